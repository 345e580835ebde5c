// Command nmrun runs a NanoMamba-Edge GGUF file (from `harness export`) with
// the pure-Go packed ternary engine. It links neither cgo nor the registry,
// so it cross-compiles to a small static binary:
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build ./edge/cmd/nmrun
//
// Usage:
//
//	nmrun [-prompt text] [-steps n] [-threads n] [-head float|int8] [-logits] model.gguf
//	nmrun -bench [-prompt-tokens n] [-steps n] [-reps n] [-threads n,m] [-head h] model.gguf
//
// -cpuprofile file writes a CPU profile of either mode (go tool pprof).
//
// -bench times decoding (engine.TimeDecode: a fixed prompt of
// -prompt-tokens ids fed one step each, then -steps greedy steps, best of
// -reps) and prints an engine.BenchResult as JSON, with this small
// process's peak resident memory (harness bench --decode runs it as its
// lean child).
//
// -head int8 computes the tied output head from a Q8_0 / Q4_0 / Q3_K embedding with
// int8 activations (engine.HeadInt8); the default is the exact float head.
//
// With -logits it prints, instead of text, the greedy token ids and a
// checksum of the logits' bits, for comparing machines: the engine gives the
// same bits on amd64 and arm64. Without an arm64 machine, qemu's user-mode
// emulator runs the binary (Debian: apt-get install qemu-user-static):
//
//	qemu-aarch64-static ./nmrun -logits -steps 40 -prompt "Once upon a time" model.gguf
//
// which prints the same checksum as the amd64 build.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/nanomamba-edge/harness/edge/dot"
	"github.com/nanomamba-edge/harness/edge/engine"
)

func runBench(path, head, threadList string, threads, prompt, steps, reps int) error {
	hd, err := engine.ParseHead(head)
	if err != nil {
		return err
	}
	ths := []int{threads}
	if threadList != "" {
		ths = nil
		for _, f := range strings.Split(threadList, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return fmt.Errorf("-bench-threads %q: want positive integers", threadList)
			}
			ths = append(ths, n)
		}
	}
	m, err := engine.Load(path)
	if err != nil {
		return err
	}
	if err := m.SetHead(hd); err != nil {
		return err
	}
	ts, err := m.TimeDecode(ths, prompt, steps, reps)
	if err != nil {
		return err
	}
	res := engine.BenchResult{Timings: ts, PeakRSSBytes: engine.PeakRSS(), DotKernels: dot.KernelSet()}
	res.WeightBytes, res.StateBytes = m.DecodeBytes(prompt + steps/2)
	res.WrittenBytes = m.DecodeWritten()
	return json.NewEncoder(os.Stdout).Encode(res)
}

func main() {
	prompt := flag.String("prompt", "", "text to continue")
	steps := flag.Int("steps", 64, "tokens to generate")
	threads := flag.Int("threads", 1, "worker goroutines (results do not depend on it)")
	logits := flag.Bool("logits", false, "print greedy token ids and a checksum of every logit instead of text")
	head := flag.String("head", "float", "output head: float (exact) or int8 (Q8_0 / Q4_0 / Q3_K embeddings)")
	bench := flag.Bool("bench", false, "time decoding and print the timings and peak memory as JSON")
	promptTokens := flag.Int("prompt-tokens", 32, "-bench: prompt length in tokens")
	reps := flag.Int("reps", 3, "-bench: repetitions (the best is kept)")
	benchThreads := flag.String("bench-threads", "", "-bench: comma-separated thread counts (default -threads)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile (runtime/pprof) of the run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "nmrun: -cpuprofile:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if *bench && flag.NArg() == 1 {
		if err := runBench(flag.Arg(0), *head, *benchThreads, *threads, *promptTokens, *steps, *reps); err != nil {
			fmt.Fprintln(os.Stderr, "nmrun:", err)
			exit(1)
		}
		return
	}
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: nmrun [-prompt text] [-steps n] [-threads n] [-head float|int8] [-logits] model.gguf")
		exit(2)
	}
	if err := run(flag.Arg(0), *prompt, *steps, *threads, *head, *logits); err != nil {
		fmt.Fprintln(os.Stderr, "nmrun:", err)
		exit(1)
	}
}

// exit stops a CPU profile in progress (its deferred stop does not run
// under os.Exit) and exits with code.
func exit(code int) {
	pprof.StopCPUProfile()
	os.Exit(code)
}

func run(path, prompt string, steps, threads int, head string, logits bool) error {
	if steps < 0 {
		return fmt.Errorf("-steps %d must not be negative", steps)
	}
	hd, err := engine.ParseHead(head)
	if err != nil {
		return err
	}
	m, err := engine.Load(path)
	if err != nil {
		return err
	}
	if err := m.SetHead(hd); err != nil {
		return err
	}
	m.SetThreads(threads)
	tok := m.Tokenizer()
	if tok == nil {
		return fmt.Errorf("%s has no tokenizer", path)
	}
	if !logits {
		text, err := m.Generate(prompt, steps)
		if err != nil {
			return err
		}
		fmt.Println(prompt + text)
		fmt.Fprintln(os.Stderr, m.LastGeneration())
		return nil
	}
	ctx := append([]int32{tok.EOS()}, tok.Encode(prompt)...)
	st := m.NewState()
	h := fnv.New64a()
	var ids []int32
	next := int32(-1)
	for i := 0; i < len(ctx)+steps && st.Pos() < m.Context; i++ {
		t := next
		if i < len(ctx) {
			t = ctx[i]
		}
		l, err := m.Next(st, t)
		if err != nil {
			return err
		}
		for _, v := range l {
			b := math.Float32bits(v)
			h.Write([]byte{byte(b), byte(b >> 8), byte(b >> 16), byte(b >> 24)})
		}
		next = int32(engine.Argmax(l))
		if i >= len(ctx)-1 {
			ids = append(ids, next)
		}
	}
	fmt.Printf("tokens %v\nlogits fnv64a %016x\n", ids, h.Sum64())
	return nil
}
