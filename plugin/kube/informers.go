package kube

import (
	"context"
	"io"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Informers runs a few typed informers of one namespace. It replaces
// client-go's SharedInformerFactory on purpose: the factory's accessors reach
// the informers and listers of every API group, and once a binary looks
// methods up by reflection (text/template does, through Helm) the linker keeps
// them all: 3.4 MB of the plugin for four informers (see
// README.md, Performance). The per-type constructors used here link only the
// two groups asked for.
type Informers struct {
	// OnWatchError, when set before Start, receives the errors of failed
	// lists and watches (client-go retries them with backoff) instead of
	// client-go's log lines on stderr. A watch closed normally or expired is
	// not an error.
	OnWatchError func(error)

	cs    kubernetes.Interface
	ns    string
	infs  []cache.SharedIndexInformer
	wg    sync.WaitGroup
	start sync.Once
}

// NewInformers returns an empty set for namespace ns.
func NewInformers(cs kubernetes.Interface, ns string) *Informers {
	return &Informers{cs: cs, ns: ns}
}

var nsIndex = cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}

func (s *Informers) add(inf cache.SharedIndexInformer) cache.SharedIndexInformer {
	s.infs = append(s.infs, inf)
	return inf
}

// Pods adds an informer on the namespace's pods, list options tweaked by tweak (may be nil).
func (s *Informers) Pods(tweak func(*metav1.ListOptions)) cache.SharedIndexInformer {
	return s.add(coreinformers.NewFilteredPodInformer(s.cs, s.ns, 0, nsIndex, tweak))
}

// Events adds an informer on the namespace's events.
func (s *Informers) Events(tweak func(*metav1.ListOptions)) cache.SharedIndexInformer {
	return s.add(coreinformers.NewFilteredEventInformer(s.cs, s.ns, 0, nsIndex, tweak))
}

// Deployments adds an informer on the namespace's Deployments.
func (s *Informers) Deployments(tweak func(*metav1.ListOptions)) cache.SharedIndexInformer {
	return s.add(appsinformers.NewFilteredDeploymentInformer(s.cs, s.ns, 0, nsIndex, tweak))
}

// ReplicaSets adds an informer on the namespace's ReplicaSets.
func (s *Informers) ReplicaSets(tweak func(*metav1.ListOptions)) cache.SharedIndexInformer {
	return s.add(appsinformers.NewFilteredReplicaSetInformer(s.cs, s.ns, 0, nsIndex, tweak))
}

// WatchErrors keeps the latest failed list or watch of a set of informers
// (Informers.OnWatchError = w.Set), for commands that say why they cannot
// read while client-go retries.
type WatchErrors struct {
	mu  sync.Mutex
	err error
	at  time.Time
}

// Set records err as the latest failure.
func (w *WatchErrors) Set(err error) {
	w.mu.Lock()
	w.err, w.at = err, time.Now()
	w.mu.Unlock()
}

// Within returns the latest failure if it happened in the last d, else nil.
func (w *WatchErrors) Within(d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil || time.Since(w.at) > d {
		return nil
	}
	return w.err
}

// APITrouble says, on one line, that the API server cannot be read and
// why ("" for a nil err).
func APITrouble(err error) string {
	if err == nil {
		return ""
	}
	return "cannot read from the API server (retrying): " + strings.Join(strings.Fields(err.Error()), " ")
}

// Start runs every added informer until ctx ends (once; later calls do nothing).
func (s *Informers) Start(ctx context.Context) {
	s.start.Do(func() {
		for _, inf := range s.infs {
			if s.OnWatchError != nil {
				_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
					if err == io.EOF || err == io.ErrUnexpectedEOF || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
						return
					}
					s.OnWatchError(err)
				})
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				inf.RunWithContext(ctx)
			}()
		}
	})
}

// WaitForSync waits until every informer has listed, notified rather than
// polled (cache.WaitForCacheSync checks every 100 ms). False when ctx ends first.
func (s *Informers) WaitForSync(ctx context.Context) bool {
	checkers := make([]cache.DoneChecker, len(s.infs))
	for i, inf := range s.infs {
		checkers[i] = inf.HasSyncedChecker()
	}
	return cache.WaitFor(ctx, "", checkers...)
}

// Shutdown waits until the informers have stopped; end the context given to
// Start first.
func (s *Informers) Shutdown() {
	s.wg.Wait()
}
