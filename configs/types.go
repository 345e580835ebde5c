package configs

// Config is one fully described experiment. Every field that can change a
// result is part of the run hash; fields tagged `hash:"-"` are not.
type Config struct {
	// Preset names the preset the config was built from. It does not change
	// results and is not hashed.
	Preset string      `mapstructure:"preset" json:"preset" hash:"-"`
	Model  ModelConfig `mapstructure:"model" json:"model"`
	Quant  QuantConfig `mapstructure:"quant" json:"quant"`
	QAT    QATConfig   `mapstructure:"qat" json:"qat"`
	Train  TrainConfig `mapstructure:"train" json:"train"`
	Data   DataConfig  `mapstructure:"data" json:"data"`
	Eval   EvalConfig  `mapstructure:"eval" json:"eval" hash:"-"`
	// Distill and LoRA are hashed only when enabled: disabled (their
	// defaults), the canonical JSON leaves them out, so configs without
	// them keep their hashes.
	Distill DistillConfig `mapstructure:"distill" json:"distill" hash:"omitdisabled"`
	LoRA    LoRAConfig    `mapstructure:"lora" json:"lora" hash:"omitdisabled"`
}

// ModelConfig describes the hybrid Mamba-2 / attention network.
type ModelConfig struct {
	DModel  int `mapstructure:"d_model" json:"d_model"`
	NLayers int `mapstructure:"n_layers" json:"n_layers"`
	// AttnLayers lists the indices (0-based) of the attention layers; all
	// other layers are Mamba-2 blocks.
	AttnLayers []int `mapstructure:"attn_layers" json:"attn_layers"`
	// AttnFractions, when set, places attention layers at floor(f*n_layers)
	// for each depth fraction f in [0,1). Resolution turns them into
	// AttnLayers and clears this field, so both spellings hash alike.
	AttnFractions []float64 `mapstructure:"attn_fractions" json:"attn_fractions"`
	NHeads        int       `mapstructure:"n_heads" json:"n_heads"`       // attention query heads
	NKVHeads      int       `mapstructure:"n_kv_heads" json:"n_kv_heads"` // attention key/value heads (GQA)
	RopeTheta     float64   `mapstructure:"rope_theta" json:"rope_theta"`
	DState        int       `mapstructure:"d_state" json:"d_state"`   // SSM state size N
	Expand        int       `mapstructure:"expand" json:"expand"`     // d_inner = expand*d_model
	HeadDim       int       `mapstructure:"head_dim" json:"head_dim"` // SSM head dim P
	NGroups       int       `mapstructure:"n_groups" json:"n_groups"` // SSM B/C groups G
	DConv         int       `mapstructure:"d_conv" json:"d_conv"`     // depthwise conv width K
	Chunk         int       `mapstructure:"chunk" json:"chunk"`       // SSD chunk size Q
	FFN           bool      `mapstructure:"ffn" json:"ffn"`           // SwiGLU FFN after each mixer
	DFF           int       `mapstructure:"d_ff" json:"d_ff"`         // FFN hidden size
	Vocab         int       `mapstructure:"vocab" json:"vocab"`
	Context       int       `mapstructure:"context" json:"context"` // maximum sequence length
	NormEps       float64   `mapstructure:"norm_eps" json:"norm_eps"`
	InitStd       float64   `mapstructure:"init_std" json:"init_std"` // embedding init std
}

// QuantConfig describes how BitLinear layers quantize.
type QuantConfig struct {
	// SubLN places an RMSNorm (with a learned gain) before every quantized
	// projection, ahead of its activation quantizer.
	SubLN bool `mapstructure:"subln" json:"subln"`
	// Scale is the weight statistic: "absmean" or "absmedian".
	Scale string `mapstructure:"scale" json:"scale"`
	// ActBits is the per-token absmax activation quantization width (8), or 0 for none.
	ActBits int `mapstructure:"act_bits" json:"act_bits"`
	// Alpha4 and Alpha2 widen the k-bit grids: s_k = q_k / (alpha_k * m(W)).
	Alpha4 float64 `mapstructure:"alpha4" json:"alpha4"`
	Alpha2 float64 `mapstructure:"alpha2" json:"alpha2"`
}

// QATConfig is the continual quantization-aware training schedule.
type QATConfig struct {
	// Phases run in order; each begins at a fraction of training and is
	// entered by a linear lambda ramp lasting Ramp (a fraction of training).
	Phases []QATPhase `mapstructure:"phases" json:"phases"`
	// ResetOptimizer zeroes the AdamW moments when a phase begins.
	ResetOptimizer bool `mapstructure:"reset_optimizer" json:"reset_optimizer"`
}

// QATPhase is one segment of the schedule.
type QATPhase struct {
	// Weights is "float", "int4", "int2" or "ternary".
	Weights string  `mapstructure:"weights" json:"weights"`
	Start   float64 `mapstructure:"start" json:"start"` // fraction of training steps in [0,1)
	Ramp    float64 `mapstructure:"ramp" json:"ramp"`   // fraction of training steps; 0 = abrupt
}

// TrainConfig holds optimisation settings.
type TrainConfig struct {
	Tokens       int64   `mapstructure:"tokens" json:"tokens"`         // total training tokens
	BatchSize    int     `mapstructure:"batch_size" json:"batch_size"` // sequences per optimizer step
	MicroBatch   int     `mapstructure:"micro_batch" json:"micro_batch"`
	LR           float64 `mapstructure:"lr" json:"lr"`
	MinLR        float64 `mapstructure:"min_lr" json:"min_lr"`
	Warmup       int     `mapstructure:"warmup" json:"warmup"` // steps
	WeightDecay  float64 `mapstructure:"weight_decay" json:"weight_decay"`
	Beta1        float64 `mapstructure:"beta1" json:"beta1"`
	Beta2        float64 `mapstructure:"beta2" json:"beta2"`
	Eps          float64 `mapstructure:"eps" json:"eps"`
	Clip         float64 `mapstructure:"clip" json:"clip"`
	Seed         int64   `mapstructure:"seed" json:"seed"`
	EvalEvery    int     `mapstructure:"eval_every" json:"eval_every"` // steps between validation passes
	EvalTokens   int     `mapstructure:"eval_tokens" json:"eval_tokens"`
	LogEvery     int     `mapstructure:"log_every" json:"log_every"`
	SampleTokens int     `mapstructure:"sample_tokens" json:"sample_tokens"`
	// Threads and CheckpointEvery change speed, not results.
	Threads         int `mapstructure:"threads" json:"threads" hash:"-"`
	CheckpointEvery int `mapstructure:"checkpoint_every" json:"checkpoint_every" hash:"-"`
}

// DataConfig selects and prepares the corpus.
type DataConfig struct {
	Sources []DataSource `mapstructure:"sources" json:"sources"`
	// Validation is the held-out text used for validation loss and bits-per-byte.
	Validation DataSource `mapstructure:"validation" json:"validation"`
	Tokenizer  string     `mapstructure:"tokenizer" json:"tokenizer"` // "bpe" or "byte"
	SeqLen     int        `mapstructure:"seq_len" json:"seq_len"`
	MinChars   int        `mapstructure:"min_chars" json:"min_chars"`
	Dedup      bool       `mapstructure:"dedup" json:"dedup"`
	// TokenizerDocs caps the documents the tokenizer is trained on (0 = all).
	TokenizerChars int `mapstructure:"tokenizer_chars" json:"tokenizer_chars"`
}

// DataSource is one corpus file or glob with its mixture weight.
type DataSource struct {
	Name   string  `mapstructure:"name" json:"name"`
	Path   string  `mapstructure:"path" json:"path"` // relative to the project root; globs allowed
	Weight float64 `mapstructure:"weight" json:"weight"`
	// Format is "text" (documents separated by blank lines or <|endoftext|>),
	// "lines" (one document per line), or "jsonl" (a "text" field). A .gz
	// suffix on the file is read transparently.
	Format string `mapstructure:"format" json:"format"`
	// Fingerprint is the sha256 of the matched files' contents, filled in at
	// resolution; it makes the data part of the run's identity.
	Fingerprint string `mapstructure:"fingerprint" json:"fingerprint"`
}

// EvalConfig selects the benchmark tasks run after training.
type EvalConfig struct {
	Tasks []string `mapstructure:"tasks" json:"tasks"`
	Shots int      `mapstructure:"shots" json:"shots"`
	Limit int      `mapstructure:"limit" json:"limit"` // documents per task, 0 = all
}

// Distillation losses (distill.loss).
const (
	DistillNone    = "none"    // plain language-model training
	DistillFKL     = "fkl"     // forward KL with temperature (Hinton), τ²-scaled
	DistillRKL     = "rkl"     // token-level reverse KL on the data (DistiLLM reverse_kl)
	DistillMiniLLM = "minillm" // MiniLLM: sequence-level reverse KL by policy gradient on teacher-mixed samples
)

// DistillLosses are the valid distill.loss values.
var DistillLosses = []string{DistillNone, DistillFKL, DistillRKL, DistillMiniLLM}

// DistillConfig makes a training run learn from a teacher run's logits.
// The student's loss is (1−kd_ratio)·CE(data) + kd_ratio·KD.
type DistillConfig struct {
	// Teacher is the run hash of a done training run with the same
	// tokenizer (vocabulary and data settings); its final checkpoint runs
	// in inference mode inside the training loop.
	Teacher string `mapstructure:"teacher" json:"teacher"`
	// Loss is none, fkl, rkl or minillm.
	Loss string `mapstructure:"loss" json:"loss"`
	// Temperature τ of fkl (the loss is scaled by τ²).
	Temperature float64 `mapstructure:"temperature" json:"temperature"`
	// KDRatio is the weight of the distillation term (LMOps kd_ratio).
	KDRatio float64 `mapstructure:"kd_ratio" json:"kd_ratio"`
	// TeacherMix is α of MiniLLM's sampling distribution α·p + (1−α)·q
	// (LMOps --teacher-mixed-alpha, 0.2).
	TeacherMix float64 `mapstructure:"teacher_mix" json:"teacher_mix"`
	// PromptTokens is MiniLLM's prompt: the first PromptTokens tokens of
	// each training sequence; the rest of the window is sampled (0 = half
	// of data.seq_len).
	PromptTokens int `mapstructure:"prompt_tokens" json:"prompt_tokens"`
	// StartStep is the first optimizer step that distils; earlier steps
	// train on the data alone.
	StartStep int64 `mapstructure:"start_step" json:"start_step"`
}

// Enabled reports whether the config distils.
func (d DistillConfig) Enabled() bool { return d.Loss != "" && d.Loss != DistillNone }

// LoRAConfig makes a run a LoRA fine-tune of a base run: frozen base
// weights (quantized as the base ends its schedule: QLoRA's setting for a
// ternary base) plus float adapters y += (alpha/rank)·B·A·dropout(x).
type LoRAConfig struct {
	// Base is the run hash of the done training run being fine-tuned.
	Base string `mapstructure:"base" json:"base"`
	Rank int    `mapstructure:"rank" json:"rank"`
	// Alpha is the adapter scale numerator (scale = alpha/rank).
	Alpha   float64 `mapstructure:"alpha" json:"alpha"`
	Dropout float64 `mapstructure:"dropout" json:"dropout"`
	// Targets are module kinds: in_proj, out_proj (Mamba), wq, wk, wv, wo
	// (attention), w1, w2, w3 (FFN).
	Targets []string `mapstructure:"targets" json:"targets"`
	// Data is the instruction set (format "alpaca": a JSON array or JSON lines of records with
	// instruction, input, output), fingerprinted like the corpus.
	Data DataSource `mapstructure:"data" json:"data"`
	// HeldOut is the number of examples (the last ones) kept out of
	// training for the held-out loss.
	HeldOut int `mapstructure:"held_out" json:"held_out"`
}

// Enabled reports whether the config is a LoRA fine-tune.
func (l LoRAConfig) Enabled() bool { return l.Base != "" }

// LoRATargets are the valid lora.targets entries.
var LoRATargets = []string{"in_proj", "out_proj", "wq", "wk", "wv", "wo", "w1", "w2", "w3"}
