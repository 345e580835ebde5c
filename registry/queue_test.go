package registry

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func queueItems(batch string, n int) []QueueItem {
	var out []QueueItem
	for i := 0; i < n; i++ {
		out = append(out, QueueItem{Kind: QueueAblationMember, Batch: batch, Key: fmt.Sprintf("k%02d", i), Payload: fmt.Sprintf(`{"i":%d}`, i)})
	}
	return out
}

func TestQueueClaimFinishAndRequeue(t *testing.T) {
	db := openTemp(t)
	if _, err := db.Claim(ClaimOptions{}); !errors.Is(err, ErrQueueEmpty) {
		t.Fatalf("claim on an empty queue: %v", err)
	}
	st, err := db.Enqueue(queueItems("b", 3))
	if err != nil || st.Added != 3 {
		t.Fatalf("enqueue: %+v %v", st, err)
	}
	if _, err := db.Enqueue([]QueueItem{{Kind: "nope", Batch: "b", Key: "x"}}); err == nil {
		t.Fatal("unknown kind accepted")
	}
	var claims []*Claim
	for i := 0; i < 3; i++ {
		c, err := db.Claim(ClaimOptions{Worker: "w"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Item.Key != fmt.Sprintf("k%02d", i) || c.Item.Attempts != 1 || c.Previous != nil || c.Item.Worker != "w" {
			t.Fatalf("claim %d: %+v", i, c.Item)
		}
		claims = append(claims, c)
	}
	// All three are held by this live process: in flight, not claimable.
	var ife *InFlightError
	if _, err := db.Claim(ClaimOptions{}); !errors.As(err, &ife) || ife.Items != 3 {
		t.Fatalf("claim with everything held: %v", err)
	}
	if err := claims[0].Finish(QueueDone, ""); err != nil {
		t.Fatal(err)
	}
	if err := claims[0].Finish(QueueFailed, "again"); err != nil {
		t.Fatalf("second finish: %v", err)
	}
	if err := claims[1].Finish(QueueFailed, "boom"); err != nil {
		t.Fatal(err)
	}
	if err := claims[2].Release(); err != nil {
		t.Fatal(err)
	}
	items, err := db.QueueItems("b")
	if err != nil || len(items) != 3 || items[0].State != QueueDone || items[1].State != QueueFailed || items[1].Error != "boom" || items[2].State != QueueQueued {
		t.Fatalf("items %+v (%v)", items, err)
	}
	// Enqueueing again keeps done and queued items and requeues the failed one.
	st, err = db.Enqueue(queueItems("b", 4))
	if err != nil || st != (EnqueueStats{Added: 1, Requeued: 1, Kept: 2}) {
		t.Fatalf("re-enqueue: %+v %v", st, err)
	}
	seen := map[string]int{}
	for {
		c, err := db.Claim(ClaimOptions{Batch: "b"})
		if errors.Is(err, ErrQueueEmpty) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen[c.Item.Key] = c.Item.Attempts
		if err := c.Finish(QueueDone, ""); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(seen) != "map[k01:2 k02:2 k03:1]" {
		t.Fatalf("claimed after re-enqueue: %v", seen)
	}
}

// A claim whose heartbeat is older than StaleAfter is taken over; the old
// owner's writes then fail with ErrLeaseLost.
func TestQueueStaleClaimIsTakenOver(t *testing.T) {
	db := openTemp(t)
	if _, err := db.Enqueue(queueItems("b", 1)); err != nil {
		t.Fatal(err)
	}
	old, err := db.Claim(ClaimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.SetDetail("trial 7"); err != nil {
		t.Fatal(err)
	}
	old.Abandon()
	time.Sleep(5 * time.Millisecond)
	c, err := db.Claim(ClaimOptions{StaleAfter: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if c.Previous == nil || c.Item.Attempts != 2 || c.Item.Detail != "trial 7" {
		t.Fatalf("takeover: previous %+v item %+v", c.Previous, c.Item)
	}
	if err := old.Heartbeat(); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("old owner's heartbeat: %v", err)
	}
	if err := c.Finish(QueueDone, ""); err != nil {
		t.Fatal(err)
	}
}

// A claim held by a process that no longer exists on this host is taken
// over at once, whatever its heartbeat.
func TestQueueDeadOwnerIsTakenOver(t *testing.T) {
	db := openTemp(t)
	if _, err := db.Enqueue(queueItems("b", 1)); err != nil {
		t.Fatal(err)
	}
	c, err := db.Claim(ClaimOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Abandon()
	// Pretend the owner was a process that has exited.
	if _, err := db.sql.Exec(`UPDATE queue SET pid = ? WHERE id = ?`, deadPID(t), c.Item.ID); err != nil {
		t.Fatal(err)
	}
	c2, err := db.Claim(ClaimOptions{})
	if err != nil || c2.Previous == nil {
		t.Fatalf("dead owner not taken over: %v", err)
	}
	c2.Finish(QueueDone, "")
}

// Workers racing on one file (each its own handle, as separate processes
// have) claim every item exactly once.
func TestQueueConcurrentClaims(t *testing.T) {
	path := newBackendName(t)
	db := openBackend(t, path)
	defer db.Close()
	const n = 40
	if _, err := db.Enqueue(queueItems("b", n)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := openBackend(t, path)
			defer h.Close()
			for {
				c, err := h.Claim(ClaimOptions{})
				var ife *InFlightError
				if errors.Is(err, ErrQueueEmpty) {
					return
				} else if errors.As(err, &ife) {
					time.Sleep(time.Millisecond)
					continue
				} else if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				counts[c.Item.Key]++
				mu.Unlock()
				if err := c.Finish(QueueDone, ""); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if len(counts) != n {
		t.Fatalf("%d items claimed, want %d", len(counts), n)
	}
	for k, c := range counts {
		if c != 1 {
			t.Errorf("item %s claimed %d times", k, c)
		}
	}
}

// A file at schema 2 (before the queue) opens and reads without being
// migrated; the first enqueue adds the queue table.
func TestQueueTableOnDemand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	db := mustOpen(t, path)
	if _, err := db.sql.Exec(`DROP TABLE item_scores; DROP TABLE queue; PRAGMA user_version = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	version := func() int {
		ro := mustOpenRO(t, path)
		defer ro.Close()
		var v int
		if err := ro.sql.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		items, err := ro.QueueItems("")
		if err != nil || (v < queueVersion) != (len(items) == 0) {
			t.Fatalf("queue of a schema-%d file: %v %v", v, items, err)
		}
		return v
	}
	db = mustOpen(t, path)
	db.Close()
	if v := version(); v != 2 {
		t.Fatalf("open migrated a schema-2 file to %d", v)
	}
	db = mustOpen(t, path)
	if _, err := db.Enqueue(queueItems("b", 1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if v := version(); v != queueVersion {
		t.Fatalf("after enqueue: schema %d, want %d", v, queueVersion)
	}
}

// deadPID is the pid of a child process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	return cmd.Process.Pid
}
