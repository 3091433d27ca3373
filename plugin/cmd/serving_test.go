package cmd

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

const (
	servedID   = "meta-llama/Llama-4-Scout-17B-16E"
	testAPIKey = "sk-TESTAPIKEY-do-not-print"
)

var releaseLabels = map[string]string{"app.kubernetes.io/name": "vllm-llama", "app.kubernetes.io/instance": "scout"}

func servingDeployment(available bool, apiKey bool) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "scout", Namespace: "default", Generation: 1, Labels: releaseLabels,
			Annotations: map[string]string{"kubectl-llama.io/model-id": servedID, "kubectl-llama.io/preset": "scout"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "inference-server", Image: "vllm/vllm-openai:v0.10.0", Args: []string{"--max-model-len=262144"}}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1},
	}
	if available {
		d.Status.AvailableReplicas, d.Status.ReadyReplicas = 1, 1
	}
	if apiKey {
		d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "VLLM_API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "vllm-api-key"}, Key: "api_key"}}}}
	}
	return d
}

func apiKeySecret() *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vllm-api-key", Namespace: "default"}, Data: map[string][]byte{"api_key": []byte(testAPIKey + "\n")}}
}

// vllmLike answers /health, /v1/models and chat completions (streamed or
// not) like vLLM, requiring the API key when key is set.
func vllmLike(t *testing.T, key string, health int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1") && key != "" && r.Header.Get("Authorization") != "Bearer "+key {
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"error":"Unauthorized"}`))
			return
		}
		switch r.URL.Path {
		case "/health":
			w.WriteHeader(health)
		case "/v1/models":
			_, _ = fmt.Fprintf(w, `{"object":"list","data":[{"id":%q,"object":"model"}]}`, servedID)
		case "/v1/chat/completions":
			var req struct {
				Model     string `json:"model"`
				Stream    bool   `json:"stream"`
				MaxTokens int    `json:"max_tokens"`
				Messages  []struct{ Role, Content string }
			}
			_ = json.NewDecoder(r.Body).Decode(&req)
			if req.Model != servedID {
				w.WriteHeader(404)
				_, _ = fmt.Fprintf(w, `{"object":"error","message":"The model %s does not exist.","type":"NotFoundError","code":404}`, req.Model)
				return
			}
			answer := fmt.Sprintf("%d messages, max %d: San Francisco is a city", len(req.Messages), req.MaxTokens)
			if !req.Stream {
				_, _ = fmt.Fprintf(w, `{"model":%q,"choices":[{"message":{"role":"assistant","content":%q},"finish_reason":"length"}],"usage":{"completion_tokens":7}}`, servedID, answer)
				return
			}
			for _, word := range strings.SplitAfter(answer, " ") {
				_, _ = fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":%q}}]}\n\n", word)
			}
			_, _ = fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n")
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestChatWithEndpointAndAPIKey(t *testing.T) {
	e := newTestEnv(t, servingDeployment(true, true), apiKeySecret())
	srv := vllmLike(t, testAPIKey, 200)
	out, errOut, err := e.run("chat", "scout", "San Francisco is a", "--endpoint", srv.URL, "--max-tokens", "7", "--temperature", "0", "-v")
	if err != nil {
		t.Fatalf("chat: %v\n%s", err, errOut)
	}
	if out != "1 messages, max 7: San Francisco is a city\n" {
		t.Errorf("stdout %q", out)
	}
	if !strings.Contains(errOut, "time to first token") || !strings.Contains(errOut, "7 tokens") || !strings.Contains(errOut, "tokens/s") {
		t.Errorf("-v stats missing: %q", errOut)
	}
	if strings.Contains(out+errOut, "TESTAPIKEY") {
		t.Error("the API key was printed")
	}

	// --stream assembles the deltas; --system adds a message.
	out, _, err = e.run("chat", "scout", "San Francisco is a", "--endpoint", srv.URL, "--stream", "--system", "be brief")
	if err != nil || out != "2 messages, max 0: San Francisco is a city\n" {
		t.Errorf("stream: %q %v", out, err)
	}

	// The prompt may come on stdin.
	e.stdin = "San Francisco is a\n"
	out, _, err = e.run("chat", "scout", "--endpoint", srv.URL)
	if err != nil || !strings.Contains(out, "San Francisco is a city") {
		t.Errorf("stdin prompt: %q %v", out, err)
	}
}

// Without a prompt on a terminal, chat is a conversation: each turn sends
// the history so far; an empty line is skipped, /exit leaves.
func TestChatInteractive(t *testing.T) {
	e := newTestEnv(t, servingDeployment(true, true), apiKeySecret())
	srv := vllmLike(t, testAPIKey, 200)
	e.tty = true
	e.stdin = "San Francisco is a\n\nand then\n/exit\nnever sent\n"
	out, errOut, err := e.run("chat", "scout", "--endpoint", srv.URL, "--system", "be brief")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	want := "Chatting with meta-llama/Llama-4-Scout-17B-16E (/exit to leave).\n" +
		"> 2 messages, max 0: San Francisco is a city\n" + // system + user
		"> > 4 messages, max 0: San Francisco is a city\n" + // + assistant + user; the empty line only prompts again
		"> "
	if out != want {
		t.Errorf("stdout\n got %q\nwant %q", out, want)
	}
	// End of input leaves too, with a newline after the prompt.
	e.stdin = "hi\n"
	if out, _, err = e.run("chat", "scout", "--endpoint", srv.URL); err != nil || !strings.HasSuffix(out, "city\n> \n") {
		t.Errorf("EOF: %q %v", out, err)
	}
}

func TestChatErrors(t *testing.T) {
	e := newTestEnv(t, servingDeployment(true, false))
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + l.Addr().String()
	l.Close()
	_, errOut, err := e.run("chat", "scout", "hi", "--endpoint", refused)
	if err == nil || !strings.Contains(errOut, "error: model server not ready") || !strings.Contains(errOut, "run kubectl llama status scout") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("refused: %q", errOut)
	}
	srv := vllmLike(t, "a-key-the-release-does-not-have", 200)
	_, errOut, err = e.run("chat", "scout", "hi", "--endpoint", srv.URL)
	if err == nil || !strings.Contains(errOut, "error: model server answered 401") {
		t.Errorf("unauthorized: %q", errOut)
	}
	_, errOut, err = e.run("chat", "nope", "hi")
	if err == nil || !strings.Contains(errOut, "release nope not found") {
		t.Errorf("missing release: %q", errOut)
	}
}

func TestSmokeTest(t *testing.T) {
	e := newTestEnv(t, servingDeployment(true, false))
	srv := vllmLike(t, "", 200)
	out, errOut, err := e.run("test", "scout", "--endpoint", srv.URL)
	if err != nil {
		t.Fatalf("test: %v %s", err, errOut)
	}
	for _, want := range []string{"PASS  connect", "PASS  health   GET /health 200", "PASS  models   GET /v1/models: " + servedID,
		`PASS  chat     POST /v1/chat/completions "San Francisco is a" (max_tokens 7, temperature 0): "1 messages, max 7: San Francisco is a city"`,
		"smoke test passed: 4/4 steps"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	bad := vllmLike(t, "", 503)
	out, errOut, err = e.run("test", "scout", "--endpoint", bad.URL)
	if err == nil || !strings.Contains(out, "FAIL  health") || !strings.Contains(errOut, "error: smoke test failed at step health (2/4): model server not ready") {
		t.Errorf("failing health:\n%s\n%s", out, errOut)
	}
}

func crashingPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: releaseLabels},
		Spec:       corev1.PodSpec{NodeName: "gpu-1", Containers: []corev1.Container{{Name: "inference-server"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "inference-server", RestartCount: 4,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}}}},
	}
}

func TestStatusCommand(t *testing.T) {
	e := newTestEnv(t, []runtime.Object{servingDeployment(false, false), crashingPod("scout-abc-1")}...)
	out, errOut, err := e.run("status", "scout", "-o", "json")
	if err != nil {
		t.Fatalf("%v %s", err, errOut)
	}
	var s struct {
		Release string
		Ready   bool
		Model   struct {
			ID          string
			MaxModelLen int
		}
		Pods []struct {
			Name     string
			Restarts int
		}
		Diagnosis []struct{ Cause, Fix string }
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if s.Release != "scout" || s.Ready || s.Model.ID != servedID || s.Model.MaxModelLen != 262144 || len(s.Pods) != 1 || s.Pods[0].Restarts != 4 ||
		len(s.Diagnosis) == 0 || s.Diagnosis[0].Cause != "CrashLoopBackOff" {
		t.Errorf("status: %+v", s)
	}
	out, _, err = e.run("status", "scout")
	if err != nil || !strings.Contains(out, "Status:      NOT READY") || !strings.Contains(out, "keeps crashing") {
		t.Errorf("table:\n%s", out)
	}
	if _, _, err := e.run("status", "scout", "-o", "wide"); err == nil {
		t.Error("-o wide accepted")
	}
	_, errOut, err = e.run("status", "nope")
	if err == nil || !strings.Contains(errOut, "release nope not found in namespace default") {
		t.Errorf("missing: %q", errOut)
	}
}

func TestWaitCommand(t *testing.T) {
	e := newTestEnv(t, servingDeployment(true, false))
	out, errOut, err := e.run("wait", "scout", "--timeout", "1m")
	if err != nil || !strings.Contains(out, "scout is ready: 1/1 replicas available") {
		t.Errorf("wait: %q %q %v", out, errOut, err)
	}
	e = newTestEnv(t, servingDeployment(false, false), crashingPod("scout-abc-1"))
	out, errOut, err = e.run("wait", "scout", "--timeout", "1m", "--quiet")
	if err == nil || out != "" || !strings.Contains(errOut, "error: scout cannot become ready: pod/scout-abc-1: container inference-server keeps crashing") {
		t.Errorf("crash loop: %q %q %v", out, errOut, err)
	}
}

func TestLogsCommand(t *testing.T) {
	// client-go's fake serves "fake logs" as every log.
	e := newTestEnv(t, servingDeployment(true, false), crashingPod("scout-abc-1"))
	out, _, err := e.run("logs", "scout", "--tail", "5")
	if err != nil || out != "fake logs\n" {
		t.Errorf("one pod: %q %v", out, err)
	}
	e = newTestEnv(t, servingDeployment(true, false), crashingPod("scout-abc-1"), crashingPod("scout-abc-2"))
	out, _, err = e.run("logs", "scout")
	if err != nil || !strings.Contains(out, "[scout-abc-1] fake logs\n") || !strings.Contains(out, "[scout-abc-2] fake logs\n") {
		t.Errorf("two pods: %q %v", out, err)
	}
	_, errOut, err := e.run("logs", "other")
	if err == nil || !strings.Contains(errOut, "release other has no pod") {
		t.Errorf("no pod: %q", errOut)
	}
}
