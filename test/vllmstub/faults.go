package vllmstub

import (
	"fmt"
	"strings"
)

// Fault injection (TEST INFRASTRUCTURE). Set env VLLMSTUB_FAULT (in the pod's
// container env, or through the podrunner annotation
// podrunner.kubectl-llama.io/fault) or the stub's --fault option to one of:
//
//	oom          killed while loading weights: no message, exit 137 (the
//	             kubelet reports OOMKilled)
//	gated        Hugging Face 401 gated-repo error while fetching config.json, exit 1
//	             (also happens without a fault for meta-llama/* models when
//	             neither HUGGING_FACE_HUB_TOKEN nor HF_TOKEN is set)
//	gated-403    the 403 variant: token valid, but not in the authorized list
//	cuda-oom     torch.OutOfMemoryError while loading weights, exit 1
//	kv-cache     "The model's max seq len (N) is larger than the maximum number of
//	             tokens that can be stored in KV cache (M)" after profiling, exit 1
//	nccl         NCCL "unhandled system error" caused by a too small /dev/shm, exit 1
//	engine-dead  loads and serves, then the engine dies after the first
//	             completion: /health answers 500 and completions fail
const (
	FaultOOM        = "oom"
	FaultGated      = "gated"
	FaultGated403   = "gated-403"
	FaultCUDAOOM    = "cuda-oom"
	FaultKVCache    = "kv-cache"
	FaultNCCL       = "nccl"
	FaultEngineDead = "engine-dead"
)

// Faults lists the valid fault names.
var Faults = []string{FaultOOM, FaultGated, FaultGated403, FaultCUDAOOM, FaultKVCache, FaultNCCL, FaultEngineDead}

func validFault(f string) bool {
	if f == "" {
		return true
	}
	for _, k := range Faults {
		if k == f {
			return true
		}
	}
	return false
}

// traceback renders a Python-style traceback ending with the exception line.
func traceback(frames [][2]string, exc string) string {
	var b strings.Builder
	b.WriteString("Traceback (most recent call last):\n")
	for _, f := range frames {
		fmt.Fprintf(&b, "  File \"%s\", %s\n", f[0], f[1])
	}
	b.WriteString(exc)
	return b.String()
}

const sitePkgs = "/usr/local/lib/python3.12/dist-packages"

func gatedError(model string, status int) string {
	reqID := "Root=1-6a1b2c3d-4e5f60718293a4b5c6d7e8f9;0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
	url := "https://huggingface.co/" + model + "/resolve/main/config.json"
	access := "Access to model " + model + " is restricted. You must have access to it and be authenticated to access it. Please log in."
	if status == 403 {
		access = "Access to model " + model + " is restricted and you are not in the authorized list. Visit https://huggingface.co/" + model + " to ask for access."
	}
	frames := [][2]string{
		{sitePkgs + "/huggingface_hub/utils/_http.py", "line 409, in hf_raise_for_status\n    response.raise_for_status()"},
		{sitePkgs + "/requests/models.py", "line 1024, in raise_for_status\n    raise HTTPError(http_error_msg, response=self)"},
	}
	first := traceback(frames, fmt.Sprintf("requests.exceptions.HTTPError: %d Client Error: %s for url: %s",
		status, map[int]string{401: "Unauthorized", 403: "Forbidden"}[status], url))
	second := traceback([][2]string{
		{sitePkgs + "/transformers/utils/hub.py", "line 470, in cached_files\n    hf_hub_download("},
		{sitePkgs + "/huggingface_hub/file_download.py", "line 1010, in hf_hub_download\n    return _hf_hub_download_to_cache_dir("},
		{sitePkgs + "/huggingface_hub/utils/_http.py", "line 426, in hf_raise_for_status\n    raise _format(GatedRepoError, message, response) from e"},
	}, fmt.Sprintf("huggingface_hub.errors.GatedRepoError: %d Client Error. (Request ID: %s)\n\nCannot access gated repo for url %s.\n%s", status, reqID, url, access))
	third := traceback([][2]string{
		{"<frozen runpy>", "line 198, in _run_module_as_main"},
		{sitePkgs + "/vllm/entrypoints/openai/api_server.py", "line 1856, in <module>\n    uvloop.run(run_server(args))"},
		{sitePkgs + "/vllm/transformers_utils/config.py", "line 299, in get_config\n    config_dict, _ = PretrainedConfig.get_config_dict("},
		{sitePkgs + "/transformers/utils/hub.py", "line 543, in cached_files\n    raise OSError("},
	}, fmt.Sprintf("OSError: You are trying to access a gated repo.\nMake sure to have access to it at https://huggingface.co/%s.\n%d Client Error. (Request ID: %s)\n\nCannot access gated repo for url %s.\n%s", model, status, reqID, url, access))
	return first + "\n\nThe above exception was the direct cause of the following exception:\n\n" + second +
		"\n\nThe above exception was the direct cause of the following exception:\n\n" + third
}

func cudaOOMError() string {
	return traceback([][2]string{
		{sitePkgs + "/vllm/v1/worker/gpu_model_runner.py", "line 1884, in load_model\n    self.model = model_loader.load_model("},
		{sitePkgs + "/vllm/model_executor/model_loader/base_loader.py", "line 44, in load_model\n    model = initialize_model(vllm_config=vllm_config,"},
		{sitePkgs + "/torch/utils/_device.py", "line 104, in __torch_function__\n    return func(*args, **kwargs)"},
	}, "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.19 GiB of which 1.07 GiB is free. "+
		"Including non-PyTorch memory, this process has 78.11 GiB memory in use. Of the allocated memory 76.92 GiB is allocated by PyTorch, "+
		"and 412.37 MiB is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try setting "+
		"PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  "+
		"See documentation for Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)")
}

func kvCacheError(maxLen, kvTokens int64) string {
	return traceback([][2]string{
		{sitePkgs + "/vllm/v1/engine/core.py", "line 80, in __init__\n    self._initialize_kv_caches(vllm_config)"},
		{sitePkgs + "/vllm/v1/core/kv_cache_utils.py", "line 1044, in get_kv_cache_config\n    check_enough_kv_cache_memory(vllm_config, kv_cache_spec, available_memory)"},
	}, fmt.Sprintf("ValueError: The model's max seq len (%d) is larger than the maximum number of tokens that can be stored in KV cache (%d). "+
		"Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.", maxLen, kvTokens))
}

func ncclError() string {
	return "(VllmWorker rank=0 pid=212) WARNING [shm_broadcast.py:221] Error while creating shared memory segment /dev/shm/nccl-Sx1aYb (size 9637888): No space left on device\n" +
		traceback([][2]string{
			{sitePkgs + "/vllm/distributed/parallel_state.py", "line 1085, in init_distributed_environment\n    _WORLD = init_world_group(ranks, local_rank, backend)"},
			{sitePkgs + "/vllm/distributed/device_communicators/pynccl.py", "line 99, in __init__\n    self.comm: ncclComm_t = self.nccl.ncclCommInitRank("},
			{sitePkgs + "/vllm/distributed/device_communicators/pynccl_wrapper.py", "line 277, in NCCL_CHECK\n    raise RuntimeError(f\"NCCL error: {error_str}\")"},
		}, "RuntimeError: NCCL error: unhandled system error (run with NCCL_DEBUG=INFO for details)")
}
