// Package podrunner is TEST INFRASTRUCTURE: a fake kubelet for the pods that
// the real scheduler binds to kwok nodes of the local test control plane
// (test/cluster, `llama-cluster up --pod-runner PATH`). kwok there only keeps
// the nodes alive and deletes pods; this runner drives pod status through the
// real apiserver (pods/status), like a kubelet would:
//
//   - env from secretKeyRef / configMapKeyRef / envFrom is resolved; a missing
//     Secret, ConfigMap or key (not optional) leaves the container Waiting
//     with CreateContainerConfigError and the kubelet's message, plus a Warning
//     event Failed; creating the Secret later heals the pod;
//   - vLLM images (…/vllm-openai:TAG) run test/vllmstub with the container's
//     own command and args ($(VAR) expanded), its env, a free loopback port and
//     a CRI log file; the emulated vLLM version is the image tag ("latest":
//     LatestVLLMVersion); GPU limits are passed so a tensor-parallel size
//     larger than the GPUs fails as in vLLM;
//   - a namespaced kwok PortForward (the vLLM ports -> the stub's port) and
//     Logs (each container -> its log file, previous file for --previous),
//     named after the pod, make `kubectl port-forward` and `kubectl logs` work
//     through the apiserver;
//   - Running once started; the pod's startup / readiness / liveness probes
//     run against the stub (time compressed: every ProbePeriod, initial delays
//     ignored), so Ready follows /health; without probes Ready follows Running;
//   - an exit makes lastState terminated (Completed / Error / OOMKilled for
//     137), restartCount+1 and, from the second crash on, CrashLoopBackOff
//     with the kubelet's message and back-off (first restart immediate, then
//     --backoff doubling up to --max-backoff);
//   - images under registry host "invalid.local/" or with tag
//     "does-not-exist" cannot be pulled: ErrImagePull, then ImagePullBackOff,
//     with the kubelet's messages and events;
//   - images named …/curl whose command is a shell (the chart's helm-test pod)
//     run their script on the host with /bin/sh, with curl replaced by the
//     runner's curl shim that reaches the vllmstub behind the Service;
//   - other images: restartPolicy Always -> run (Ready) until deleted;
//     Never / OnFailure -> exit after a second with the exit code of
//     annotation podrunner.kubectl-llama.io/exit-code (default 0);
//   - annotation podrunner.kubectl-llama.io/run (vllmstub|script|complete|
//     forever) overrides that choice; podrunner.kubectl-llama.io/fault sets
//     the stub's fault (see test/vllmstub), podrunner.kubectl-llama.io/load-time
//     its simulated load time;
//   - on deletion (deletionTimestamp), the runner stops the processes and
//     deletes its PortForward / Logs; kwok's pod-delete stage removes the pod
//     object (the runner never finalizes pods).
//
// It never ships in the kubectl-llama plugin.
package podrunner
