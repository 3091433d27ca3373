package hftoken

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

const tok = "hf_TESTTOKEN_hftoken_pkg"

func TestResolveOrderAndHiding(t *testing.T) {
	env := func(string) string { return "hf_fromenv" }
	p := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Resolve(Sources{File: p, Env: env})
	if err != nil || got.value != tok || got.Source() != "file "+p {
		t.Fatalf("file: %v %v", got, err)
	}
	got, _ = Resolve(Sources{Stdin: true, In: strings.NewReader("  " + tok + "\n"), Env: env})
	if got.value != tok || got.Source() != "stdin" {
		t.Fatalf("stdin: %v", got)
	}
	got, _ = Resolve(Sources{Env: env})
	if got.value != "hf_fromenv" {
		t.Fatalf("env: %v", got)
	}
	got, _ = Resolve(Sources{Env: func(string) string { return "" }})
	if !got.Empty() {
		t.Fatal("want empty")
	}
	got, _ = Resolve(Sources{File: p})
	for _, s := range []string{fmt.Sprint(got), fmt.Sprintf("%v %+v %#v %s", got, got, got, got)} {
		if strings.Contains(s, "TESTTOKEN") {
			t.Errorf("formatting reveals the token: %s", s)
		}
	}
	if _, err := Resolve(Sources{Stdin: true, In: strings.NewReader("\n")}); err == nil {
		t.Error("empty stdin accepted")
	}
}

func TestApplyAndDelete(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	tk := Token{value: tok, source: "test"}
	created, err := Apply(ctx, cs, "default", "hf-secret", "hf_api_token", tk)
	if err != nil || !created {
		t.Fatal(created, err)
	}
	s, _ := cs.CoreV1().Secrets("default").Get(ctx, "hf-secret", metav1.GetOptions{})
	if string(s.Data["hf_api_token"]) != tok || s.Labels[ManagedByLabel] != ManagedByValue {
		t.Fatalf("secret: %v %v", s.Labels, len(s.Data))
	}
	created, err = Apply(ctx, cs, "default", "hf-secret", "hf_api_token", Token{value: tok + "2", source: "test"})
	if err != nil || created {
		t.Fatal(created, err)
	}
	s, _ = cs.CoreV1().Secrets("default").Get(ctx, "hf-secret", metav1.GetOptions{})
	if string(s.Data["hf_api_token"]) != tok+"2" || s.Labels[ManagedByLabel] != ManagedByValue {
		t.Fatal("update lost data or label")
	}
	deleted, _, err := DeleteIfManaged(ctx, cs, "default", "hf-secret")
	if err != nil || !deleted {
		t.Fatal(deleted, err)
	}
	if err := MissingError("hf-secret", "hf_api_token", "llm"); !strings.Contains(err.Error(), "create Secret hf-secret with key hf_api_token in namespace llm") {
		t.Error(err)
	}
}
