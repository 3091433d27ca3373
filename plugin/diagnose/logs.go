package diagnose

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

var (
	reGated   = regexp.MustCompile(`(?i)(GatedRepoError|Cannot access gated repo|Access to model \S+ is restricted|401 Client Error|403 Client Error|awaiting a review from the repo authors|not in the authorized list|Invalid credentials in Authorization header|Invalid user token)`)
	reCUDAOOM = regexp.MustCompile(`(?i)(CUDA out of memory|torch\.OutOfMemoryError|OutOfMemoryError: CUDA|CUDA error: out of memory)`)
	// v0.10: "The model's max seq len (1310720) is larger than the maximum number
	// of tokens that can be stored in KV cache (524288). Try increasing ..."
	reKVOld = regexp.MustCompile(`max seq len \((\d+)\) is larger than the maximum number of tokens that can be stored in KV cache \((\d+)\)`)
	// later: "... the estimated maximum model length is 524288. Try increasing ..."
	reKVNew     = regexp.MustCompile(`estimated maximum model length is (\d+)`)
	reKVNoBlock = regexp.MustCompile(`No available memory for the cache blocks|larger than the available KV cache memory|larger than the maximum number of tokens that can be stored in KV cache`)
	reDerived   = regexp.MustCompile(`max_model_len \((\d+)\) is greater than the derived max_model_len \((?:[a-z_]+=)?(\d+)`)
	reUnrecog   = regexp.MustCompile(`unrecognized arguments: (.*)$`)
	reNCCL      = regexp.MustCompile(`(?i)(NCCL error|ncclSystemError|ncclUnhandledCudaError|ncclInternalError|ncclRemoteError|NCCL WARN|Error while creating shared memory segment|No space left on device.*shm|/dev/shm|unable to (?:write to|allocate) (?:file|shared memory)|Bus error)`)
)

// logFinding matches the tail of the serving container's log against known
// vLLM failures. The previous container's log (the one that crashed) is
// read first.
func logFinding(obj string, spec Spec, logs PodLogs) (Finding, bool) {
	for _, lines := range [][]string{logs.Previous, logs.Current} {
		if f, ok := matchLog(obj, spec, lines); ok {
			return f, true
		}
	}
	return Finding{}, false
}

// lenHint says how to set --max-model-len on the release.
func lenHint(spec Spec, n string) string {
	if n == "" {
		n = "N"
	}
	return fmt.Sprintf("(kubectl llama upgrade %s --max-model-len %s, or --set maxModelLen=%s)", orDefault(spec.Release, "RELEASE"), n, n)
}

func matchLog(obj string, spec Spec, lines []string) (Finding, bool) {
	// Later lines win: scan from the end, most specific signature first.
	type rule func(i int, line string) (Finding, bool)
	rules := []rule{
		func(i int, l string) (Finding, bool) {
			m := reUnrecog.FindStringSubmatch(l)
			if m == nil {
				return Finding{}, false
			}
			flags := strings.TrimSpace(m[1])
			return Finding{
				Cause:   CauseUnrecognizedArg,
				Message: fmt.Sprintf("vLLM %s does not know the argument(s) %s", orUnknown(spec.ImageTag), flags),
				Fix:     fmt.Sprintf("the flag %s is not supported by this vLLM image version (%s): remove it from extraArgs, or use an image that supports it (--image-tag TAG)", firstFlag(flags), orUnknown(spec.Image)),
			}, true
		},
		func(i int, l string) (Finding, bool) {
			if !reGated.MatchString(l) {
				return Finding{}, false
			}
			model := orUnknown(spec.ModelID)
			return Finding{
				Cause:   CauseGatedRepo,
				Message: fmt.Sprintf("Hugging Face refused to download %s (401/403): the token in Secret %s lacks access to the gated Llama repo", model, orDefault(spec.SecretName, "hf-secret")),
				Fix:     fmt.Sprintf("request access to %s on its Hugging Face model page with the account that owns the token (wait for approval), or export HF_TOKEN with a token that has access and run kubectl llama upgrade %s", model, orDefault(spec.Release, "RELEASE")),
			}, true
		},
		func(i int, l string) (Finding, bool) {
			if m := reDerived.FindStringSubmatch(l); m != nil {
				return Finding{
					Cause:   CauseMaxModelLenTooLarge,
					Message: fmt.Sprintf("--max-model-len=%s is larger than the model supports (%s)", m[1], m[2]),
					Fix:     fmt.Sprintf("lower --max-model-len to at most %s %s", m[2], lenHint(spec, m[2])),
				}, true
			}
			return Finding{}, false
		},
		func(i int, l string) (Finding, bool) {
			if !reKVNoBlock.MatchString(l) && !reKVNew.MatchString(l) {
				return Finding{}, false
			}
			cur := spec.MaxModelLen
			suggest := ""
			if m := reKVOld.FindStringSubmatch(l); m != nil {
				cur = m[1]
				suggest = roundDownPow2(m[2])
			} else if m := reKVNew.FindStringSubmatch(l); m != nil {
				suggest = roundDownPow2(m[1])
			}
			if suggest == "" {
				suggest = half(cur)
			}
			return Finding{
				Cause:   CauseKVCacheTooSmall,
				Message: fmt.Sprintf("the GPUs' KV cache cannot hold one request of --max-model-len=%s", orUnknown(cur)),
				Fix:     fmt.Sprintf("lower --max-model-len from %s to %s %s, or use more / larger GPUs", orUnknown(cur), orUnknown(suggest), lenHint(spec, suggest)),
			}, true
		},
		func(i int, l string) (Finding, bool) {
			if !reCUDAOOM.MatchString(l) {
				return Finding{}, false
			}
			return Finding{
				Cause:   CauseCUDAOutOfMemory,
				Message: fmt.Sprintf("the GPUs ran out of memory (CUDA out of memory) with --max-model-len=%s", orUnknown(spec.MaxModelLen)),
				Fix:     fmt.Sprintf("lower --max-model-len from %s to %s %s or model.gpuMemoryUtilization, or use more / larger GPUs", orUnknown(spec.MaxModelLen), orUnknown(half(spec.MaxModelLen)), lenHint(spec, half(spec.MaxModelLen))),
			}, true
		},
		func(i int, l string) (Finding, bool) {
			if !reNCCL.MatchString(l) {
				return Finding{}, false
			}
			return Finding{
				Cause:   CauseNCCL,
				Message: "the tensor-parallel workers failed to communicate (NCCL / shared memory error)",
				Fix:     "the workers need a memory-backed /dev/shm large enough for NCCL: raise --set shm.sizeLimit (default 20Gi; it counts against the pod memory) and keep the chart's /dev/shm emptyDir; for detail set NCCL_DEBUG=INFO in the container env",
			}, true
		},
	}
	for i := len(lines) - 1; i >= 0; i-- {
		for _, r := range rules {
			if f, ok := r(i, lines[i]); ok {
				f.Object = obj
				f.Fatal = true
				f.Logs = excerpt(lines, i, 8)
				return f, true
			}
		}
	}
	return Finding{}, false
}

// excerpt returns up to n lines that end the log and include line i.
func excerpt(lines []string, i, n int) []string {
	if len(lines)-i <= n {
		return tail(lines, n)
	}
	return append([]string{lines[i], "..."}, lines[len(lines)-(n-2):]...)
}

func firstFlag(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return strings.SplitN(f[0], "=", 2)[0]
	}
	return s
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func half(s string) string {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 2 {
		return ""
	}
	return strconv.FormatInt(n/2, 10)
}

// roundDownPow2 gives the largest power of two <= s (a clean context length).
func roundDownPow2(s string) string {
	n, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
	if err != nil || n < 1 {
		return ""
	}
	p := int64(1)
	for p*2 <= n {
		p *= 2
	}
	return strconv.FormatInt(p, 10)
}

// Stage names the model server's start-up stage from its log, or "" when
// no known line was seen. Later lines win.
func Stage(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if s := stageOf(lines[i]); s != "" {
			return s
		}
	}
	return ""
}

var (
	reShards  = regexp.MustCompile(`Loading safetensors checkpoint shards:\s*(\d+)% Completed \|\s*(\d+)/(\d+)`)
	reTook    = regexp.MustCompile(`Loading weights took ([\d.]+) seconds`)
	reLoaded  = regexp.MustCompile(`Model loading took ([\d.]+ ?GiB)`)
	reVersion = regexp.MustCompile(`vLLM API server version (\S+)`)
	reDownl   = regexp.MustCompile(`(\S+\.safetensors):\s+(\d+)%`)
)

func stageOf(l string) string {
	switch {
	case strings.Contains(l, "Application startup complete"):
		return "API server up, waiting for the readiness probe"
	case strings.Contains(l, "Starting vLLM API server"):
		return "starting the API server"
	case strings.Contains(l, "Capturing CUDA graph") || strings.Contains(l, "Graph capturing finished"):
		return "capturing CUDA graphs"
	case strings.Contains(l, "GPU KV cache size") || strings.Contains(l, "Available KV cache memory") || strings.Contains(l, "Memory profiling takes") || strings.Contains(l, "# GPU blocks"):
		return "allocating the KV cache"
	case reLoaded.MatchString(l):
		return "model loaded (" + reLoaded.FindStringSubmatch(l)[1] + "), profiling memory"
	case reTook.MatchString(l):
		return "weights loaded in " + reTook.FindStringSubmatch(l)[1] + "s"
	case reShards.MatchString(l):
		m := reShards.FindStringSubmatch(l)
		return fmt.Sprintf("loading weights: %s/%s shards", m[2], m[3])
	case reDownl.MatchString(l):
		m := reDownl.FindStringSubmatch(l)
		return fmt.Sprintf("downloading weights (%s %s%%)", m[1], m[2])
	case strings.Contains(l, "Starting to load model"):
		return "downloading and loading the model weights"
	case strings.Contains(l, "Initializing a V1 LLM engine") || strings.Contains(l, "Initializing an LLM engine"):
		return "initializing the engine"
	case reVersion.MatchString(l):
		return "vLLM " + reVersion.FindStringSubmatch(l)[1] + " starting"
	}
	return ""
}
