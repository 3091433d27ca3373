package cmd

import (
	"strings"
	"testing"
)

func TestCompletion(t *testing.T) {
	e := newTestEnv(t)
	e.env["HF_TOKEN"] = fakeToken
	if _, errOut, err := e.run("install", "scout-instruct", "si", "--mode", "autopilot", "--wait=false"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	out, _, err := e.run("__complete", "install", "")
	if err != nil || !strings.Contains(out, "maverick-instruct-fp8\n") || !strings.Contains(out, "scout\n") {
		t.Errorf("install MODEL completion: %v\n%s", err, out)
	}
	out, _, err = e.run("__complete", "uninstall", "s")
	if err != nil || !strings.HasPrefix(out, "si\n") {
		t.Errorf("release completion: %v\n%s", err, out)
	}
	out, _, err = e.run("__complete", "install", "scout", "--gpu", "")
	if err != nil || !strings.Contains(out, "h100-mega\n") {
		t.Errorf("--gpu completion: %v\n%s", err, out)
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out, _, err := e.run("completion", sh)
		if err != nil || !strings.Contains(out, "kubectl-llama") || strings.Contains(out, "complete -o default -F __start_kubectl kubectl\n") {
			t.Errorf("%s script: %v", sh, err)
		}
	}
}
