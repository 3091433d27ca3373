package cmd

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/spf13/cobra"
)

type recorder struct {
	releaseOptions
	calls           []string
	failAt          string
	ctxSeen, hasCtx bool
}

func (r *recorder) step(name string) error {
	r.calls = append(r.calls, name)
	if r.failAt == name {
		return errors.New(name + " failed")
	}
	return nil
}

func (r *recorder) Complete(args []string) error {
	if err := r.releaseOptions.Complete(args); err != nil {
		return err
	}
	return r.step("complete")
}
func (r *recorder) Validate() error { return r.step("validate") }
func (r *recorder) Run(ctx context.Context) error {
	r.hasCtx = ctx != nil && ctx.Value(ctxKey{}) == "cmd"
	return r.step("run")
}

type ctxKey struct{}

func TestRunCommand(t *testing.T) {
	for _, c := range []struct {
		failAt string
		want   []string
	}{
		{"", []string{"complete", "validate", "run"}},
		{"complete", []string{"complete"}},
		{"validate", []string{"complete", "validate"}},
		{"run", []string{"complete", "validate", "run"}},
	} {
		r := &recorder{failAt: c.failAt}
		cc := &cobra.Command{}
		cc.SetContext(context.WithValue(context.Background(), ctxKey{}, "cmd"))
		err := runCommand(r)(cc, []string{"scout", "extra"})
		if !reflect.DeepEqual(r.calls, c.want) {
			t.Errorf("fail at %q: calls %v, want %v", c.failAt, r.calls, c.want)
		}
		if (err != nil) != (c.failAt != "") || (err != nil && err.Error() != c.failAt+" failed") {
			t.Errorf("fail at %q: err = %v", c.failAt, err)
		}
		if r.release != "scout" {
			t.Errorf("release = %q, want scout", r.release)
		}
		if c.failAt == "" && !r.hasCtx {
			t.Error("Run did not get the command's context")
		}
	}
}
