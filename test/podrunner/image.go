package podrunner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Conventions (documented in the package doc and README.md).
const (
	// UnpullableHost: images under this registry host cannot be pulled.
	UnpullableHost = "invalid.local"
	// UnpullableTag: images with this tag cannot be pulled (manifest not found).
	UnpullableTag = "does-not-exist"

	// AnnotationRun overrides what a container runs: "vllmstub" (the vLLM
	// stand-in), "script" (the container's shell script, with the curl shim),
	// "complete" (exit after a second) or "forever" (run until deleted).
	AnnotationRun = "podrunner.kubectl-llama.io/run"
	// AnnotationExitCode is the exit code of a "complete" container (default 0).
	AnnotationExitCode = "podrunner.kubectl-llama.io/exit-code"
	// AnnotationFault sets VLLMSTUB_FAULT for the pod's vllmstub containers.
	AnnotationFault = "podrunner.kubectl-llama.io/fault"
	// AnnotationLoadTime sets the simulated model load time ("5s").
	AnnotationLoadTime = "podrunner.kubectl-llama.io/load-time"

	// LatestVLLMVersion is the version emulated for a vllm-openai image tagged
	// "latest" (or untagged).
	LatestVLLMVersion = "0.30.0"
)

// runKind is how the runner emulates a container.
type runKind string

const (
	runStub     runKind = "vllmstub"
	runScript   runKind = "script"
	runComplete runKind = "complete"
	runForever  runKind = "forever"
)

// imageRef splits an image reference into repository (with any host) and tag.
func imageRef(image string) (repo, tag string) {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		return image[:i], image[i+1:]
	}
	return image, "latest"
}

// unpullable returns the pull error for an image that follows the
// "cannot be pulled" convention, or "".
func unpullable(image string) string {
	repo, tag := imageRef(image)
	host := strings.SplitN(repo, "/", 2)[0]
	switch {
	case host == UnpullableHost:
		rest := strings.TrimPrefix(repo, host+"/")
		return fmt.Sprintf(`rpc error: code = Unknown desc = failed to pull and unpack image "%s": failed to resolve reference "%s": failed to do request: Head "https://%s/v2/%s/manifests/%s": dial tcp: lookup %s: no such host`,
			image, image, host, rest, tag, host)
	case tag == UnpullableTag:
		return fmt.Sprintf(`rpc error: code = NotFound desc = failed to pull and unpack image "%s": failed to resolve reference "%s": %s: not found`, image, image, image)
	}
	return ""
}

// isVLLMImage reports whether an image is vLLM's OpenAI server image.
func isVLLMImage(image string) bool {
	repo, _ := imageRef(image)
	return strings.HasSuffix(repo, "vllm/vllm-openai") || path.Base(repo) == "vllm-openai"
}

// vllmVersion derives the emulated vLLM version from the image tag.
func vllmVersion(image string) string {
	_, tag := imageRef(image)
	t := strings.TrimPrefix(tag, "v")
	if len(t) > 0 && t[0] >= '0' && t[0] <= '9' && strings.Count(t, ".") >= 1 {
		return t
	}
	if tag == "latest" {
		return LatestVLLMVersion
	}
	return ""
}

// kindOf decides how to emulate a container.
func kindOf(pod *corev1.Pod, c *corev1.Container) runKind {
	if v := pod.Annotations[AnnotationRun]; v != "" {
		return runKind(v)
	}
	if isVLLMImage(c.Image) {
		return runStub
	}
	repo, _ := imageRef(c.Image)
	if path.Base(repo) == "curl" && len(c.Command) > 0 && isShell(c.Command[0]) {
		return runScript
	}
	if pod.Spec.RestartPolicy == corev1.RestartPolicyAlways || pod.Spec.RestartPolicy == "" {
		return runForever
	}
	return runComplete
}

func isShell(p string) bool {
	b := path.Base(p)
	return b == "sh" || b == "bash" || b == "ash"
}

// imageID is a stable fake digest reference for an image.
func imageID(image string) string {
	repo, _ := imageRef(image)
	sum := sha256.Sum256([]byte(image))
	return repo + "@sha256:" + hex.EncodeToString(sum[:])
}
