package cmd

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-llama/kubectl-llama/plugin/endpoint"
	"github.com/kubectl-llama/kubectl-llama/plugin/kube"
	"github.com/kubectl-llama/kubectl-llama/plugin/portforward"
)

type portForwardOptions struct {
	releaseOptions
	localPort int
	address   string
}

func newPortForwardCmd(f *factory) *cobra.Command {
	o := &portForwardOptions{releaseOptions: releaseOptions{f: f}}
	c := &cobra.Command{
		Use:   "port-forward RELEASE",
		Short: "Forward a local port to a release's OpenAI API (like kubectl port-forward service/RELEASE)",
		Long: `Forward a local port to the release's Service: the Service's ready pod, on
the container port behind the Service port, through the API server
(websocket, with SPDY fallback, as kubectl). It prints the local URL and a
curl to paste, and keeps forwarding when the pod is replaced. Ctrl-C stops it.`,
		Example: `  kubectl llama port-forward scout
  kubectl llama port-forward scout --local-port 0          # a free port
  kubectl llama port-forward scout --address 0.0.0.0 --local-port 8080`,
		Args: cobra.ExactArgs(1),
		RunE: runCommand(o),
	}
	c.Flags().IntVar(&o.localPort, "local-port", 8080, "local port (0: a free port)")
	c.Flags().StringVar(&o.address, "address", "127.0.0.1", "local address to listen on")
	return c
}

func (o *portForwardOptions) Validate() error {
	if o.localPort < 0 || o.localPort > 65535 {
		return fmt.Errorf("--local-port %d: use 0-65535", o.localPort)
	}
	if net.ParseIP(o.address) == nil && o.address != "localhost" {
		return fmt.Errorf("--address %q: use an IP address", o.address)
	}
	return validateReleaseName(o.release)
}

func (o *portForwardOptions) Run(ctx context.Context) error {
	ctx, cancel := signalContext(ctx)
	defer cancel()
	cfg, err := o.f.restConfig()
	if err != nil {
		return err
	}
	_, cs, ns, err := o.f.servingClients()
	if err != nil {
		return err
	}
	// The forward itself needs no API key; it only goes into the curl hint.
	key, err := endpoint.APIKey(ctx, cs, ns, o.release)
	keyed := key != ""
	if apierrors.IsForbidden(err) {
		fmt.Fprintf(o.f.streams.ErrOut, "warning: no permission to read the release's API key Secret: the requests need it in Authorization: Bearer\n")
		err, keyed = nil, true
	}
	if err != nil {
		return err
	}
	out := o.f.streams.Out
	fw, err := portforward.StartWithOptions(ctx, cfg, cs, ns, o.release, portforward.Options{
		Local: net.JoinHostPort(o.address, strconv.Itoa(o.localPort)), Log: out, WaitReady: 0,
	})
	if err != nil {
		return forwardError(o.release, err)
	}
	defer fw.Close()
	model := servedModel(ctx, cs, ns, o.release, (&endpoint.Endpoint{BaseURL: fw.URL, APIKey: key}))
	printCurl(out, fw.URL, model, keyed)
	select {
	case <-ctx.Done():
		return nil
	case <-fw.Done():
		if err := fw.Err(); err != nil {
			return err
		}
		return nil
	}
}

func forwardError(release string, err error) error {
	if strings.Contains(err.Error(), portforward.ErrNoReadyPod.Error()) {
		return endpoint.NotReady(release, err)
	}
	return err
}

// servedModel is the model id the server lists, else the release's annotation.
func servedModel(ctx context.Context, cs kubernetes.Interface, ns, release string, ep *endpoint.Endpoint) string {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if m, err := ep.Client().ServedModel(c); err == nil {
		return m
	}
	if d, err := cs.AppsV1().Deployments(ns).Get(ctx, release, metav1.GetOptions{}); err == nil {
		if m := d.Annotations[kube.AnnModelID]; m != "" {
			return m
		}
	}
	return "MODEL"
}

// printCurl prints the seed's smoke test, ready to paste.
func printCurl(w io.Writer, url, model string, apiKey bool) {
	auth := ""
	if apiKey {
		auth = "  -H \"Authorization: Bearer $VLLM_API_KEY\" \\\n"
	}
	fmt.Fprintf(w, `OpenAI API of %s at %s/v1 (Ctrl-C to stop). Try:

curl %s/v1/chat/completions \
  -H "Content-Type: application/json" \
%s  -d '{
    "model": "%s",
    "messages": [{"role": "user", "content": "San Francisco is a"}],
    "max_tokens": 7,
    "temperature": 0
  }'

`, model, url, url, auth, model)
}
