package ready

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-llama/kubectl-llama/plugin/diagnose"
	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
)

// podLog is what the waiter read of one pod's serving container log.
type podLog struct {
	// followed is the container ID whose log is being (or was) followed.
	followed string
	// prevFor is the restart count the previous log was read for.
	prevFor  int32
	current  []string
	previous []string
	stage    string
}

// followLogs follows the serving container's log of each running pod (one
// stream per container instance) and reads the previous container's log
// once per restart.
func (w *waiter) followLogs(ctx context.Context, pods []corev1.Pod) {
	for i := range pods {
		p := &pods[i]
		st := containerStatus(p)
		if st == nil || p.DeletionTimestamp != nil {
			continue
		}
		w.mu.Lock()
		l := w.logs[p.Name]
		if l == nil {
			l = &podLog{prevFor: -1}
			w.logs[p.Name] = l
		}
		startFollow := (st.State.Running != nil || st.State.Terminated != nil) && st.ContainerID != "" && l.followed != st.ContainerID
		if startFollow {
			l.followed = st.ContainerID
			l.current = nil
		}
		readPrev := st.RestartCount > 0 && l.prevFor != st.RestartCount
		if readPrev {
			l.prevFor = st.RestartCount
		}
		w.mu.Unlock()
		if startFollow {
			go w.follow(ctx, p.Name, st.ContainerID, st.State.Running != nil)
		}
		if readPrev {
			go func(name string) {
				lines, err := readLog(ctx, w.cs, w.ns, name, true)
				if err != nil {
					return
				}
				w.mu.Lock()
				w.logs[name].previous = lines
				w.mu.Unlock()
				w.notify()
			}(p.Name)
		}
	}
}

func (w *waiter) follow(ctx context.Context, pod, containerID string, running bool) {
	n := int64(LogTail)
	rc, err := w.cs.CoreV1().Pods(w.ns).GetLogs(pod, &corev1.PodLogOptions{Container: kube.ContainerName, Follow: running, TailLines: &n}).Stream(ctx)
	if err != nil {
		return
	}
	defer rc.Close()
	go func() {
		<-ctx.Done()
		rc.Close()
	}()
	last := time.Time{}
	_ = scanLines(rc, func(line string) {
		w.mu.Lock()
		l := w.logs[pod]
		if l == nil || l.followed != containerID {
			w.mu.Unlock()
			return
		}
		l.current = tailLines(append(l.current, line), LogTail)
		stage := diagnose.Stage([]string{line})
		changed := stage != "" && stage != l.stage
		if stage != "" {
			l.stage = stage
		}
		w.mu.Unlock()
		// Wake the waiter on a new stage, and at most once a second otherwise
		// (a log line may hold a fatal error).
		if changed || time.Since(last) > time.Second {
			last = time.Now()
			w.notify()
		}
	})
	w.notify()
}

// stages returns the start-up stage read from each pod's log.
func (w *waiter) stages() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]string{}
	for name, l := range w.logs {
		if l.stage != "" {
			out[name] = l.stage
		}
	}
	return out
}
