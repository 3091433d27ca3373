// Command llama-cluster starts and stops the local test control plane of
// kubectl-llama: etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler (Kubernetes v1.37.2 built from Go modules) with kwok nodes
// that look like GKE GPU node pools. GPUs are simulated. See
// test/cluster/README.md.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	cluster "github.com/kubectl-llama/kubectl-llama/test/cluster"
	"github.com/kubectl-llama/kubectl-llama/test/cluster/internal/controlplane"
)

func cacheDir() string {
	if d := os.Getenv("KUBECTL_LLAMA_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "kubectl-llama")
	}
	return filepath.Join(home, ".cache", "kubectl-llama")
}

func defaultStateDir() string {
	if d := os.Getenv("LLAMA_CLUSTER_STATE_DIR"); d != "" {
		return d
	}
	return filepath.Join(cacheDir(), "cluster")
}

// defaultBinDir is the directory of this executable when the control-plane
// binaries sit next to it (make cluster-build puts them together), else
// $CACHE/bin.
func defaultBinDir() string {
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		if _, err := os.Stat(filepath.Join(dir, controlplane.APIServer)); err == nil {
			return dir
		}
	}
	return filepath.Join(cacheDir(), "bin")
}

func loadPools(path string) (*controlplane.NodePools, error) {
	data := cluster.NodePools
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	return controlplane.ParseNodePools(data)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var stateDir, poolsFile string
	root := &cobra.Command{
		Use:           "llama-cluster",
		Short:         "Local Kubernetes control plane with simulated GKE GPU nodes (test infrastructure)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&stateDir, "state-dir", defaultStateDir(), "directory holding the cluster's kubeconfig, certificates, logs and pids (env LLAMA_CLUSTER_STATE_DIR)")
	root.PersistentFlags().StringVar(&poolsFile, "nodepools", "", "node pools file (default: the embedded test/cluster/nodepools.yaml)")
	root.AddCommand(newUp(&stateDir, &poolsFile), newDown(&stateDir), newStatus(&stateDir), newEnv(&stateDir), newNodes(&stateDir, &poolsFile), newProfiles(&poolsFile), newWatch(&stateDir))
	return root
}

func newUp(stateDir, poolsFile *string) *cobra.Command {
	o := controlplane.Options{}
	var output string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a cluster in the state dir and wait until it is ready",
		Long: `Start etcd, kube-apiserver (RBAC on), kube-controller-manager, kube-scheduler
and kwok on free loopback ports, create the nodes of --profile, and wait until
the apiserver is ready, the nodes are Ready and the default ServiceAccount
exists. A healthy cluster already in the state dir is reused (the profile's
missing pools are added); a stale one is stopped and replaced.

--pod-runner PATH starts PATH as one more managed process once the nodes exist:
  PATH --kubeconfig=<state>/etc/pod-runner.kubeconfig --state-dir=<state>/pod-runner [--pod-runner-arg ...]
with its output in <state>/logs/pod-runner.log; down stops its process group.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			np, err := loadPools(*poolsFile)
			if err != nil {
				return err
			}
			o.StateDir, o.NodePools, o.Log = *stateDir, np, cmd.ErrOrStderr()
			start := time.Now()
			fmt.Fprintf(cmd.ErrOrStderr(), "starting local control plane (Kubernetes %s, profile %s, GPUs simulated by kwok) in %s\n", controlplane.Version, o.Profile, o.StateDir)
			info, err := controlplane.Up(cmd.Context(), o)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "cluster ready in %.1fs: %s, Kubernetes %s, profile %s (GPUs are simulated)\n", time.Since(start).Seconds(), info.Server, info.Version, info.Profile)
			fmt.Fprintf(out, "  export KUBECONFIG=%s\n", info.Kubeconfig)
			fmt.Fprintf(out, "  limited user %s (no rights until bound to a Role): %s\n", info.LimitedUser, info.LimitedKubeconfig)
			fmt.Fprintf(out, "  stop with: llama-cluster down --state-dir %s\n", info.StateDir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Profile, "profile", "h100", "node pool profile (see `llama-cluster profiles`)")
	f.StringVar(&o.BinDir, "bin-dir", defaultBinDir(), "directory of etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok")
	f.StringVar(&o.KwokDir, "kwok-dir", "", "sigs.k8s.io/kwok@"+controlplane.KwokVersion+" module dir with the stage files and CRDs (default: from go mod download -json)")
	f.StringVar(&o.PodRunner, "pod-runner", os.Getenv("LLAMA_POD_RUNNER"), "fake-kubelet pod runner binary to start as a managed process (env LLAMA_POD_RUNNER)")
	f.StringArrayVar(&o.PodRunnerArgs, "pod-runner-arg", nil, "extra argument for the pod runner (repeatable)")
	f.DurationVar(&o.Timeout, "timeout", 3*time.Minute, "give up after this long")
	f.StringVarP(&output, "output", "o", "", "json: print cluster.json on success")
	f.IntVar(&o.OwnerPID, "owner-pid", 0, "stop the cluster automatically once this process is gone (tests pass their own pid)")
	return cmd
}

func newWatch(stateDir *string) *cobra.Command {
	var owner int
	cmd := &cobra.Command{
		Use:    "watch --owner-pid PID",
		Short:  "Run `down` once process PID is gone (started by up --owner-pid)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, err := filepath.Abs(*stateDir)
			if err != nil {
				return err
			}
			return controlplane.Watch(cmd.Context(), abs, owner, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().IntVar(&owner, "owner-pid", 0, "process to watch")
	_ = cmd.MarkFlagRequired("owner-pid")
	return cmd
}

func newDown(stateDir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Stop exactly the processes the state dir records and remove it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			if err := controlplane.Down(*stateDir, cmd.ErrOrStderr()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cluster in %s stopped and removed (%.1fs)\n", *stateDir, time.Since(start).Seconds())
			return nil
		},
	}
}

func newStatus(stateDir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the processes and nodes; exit 1 unless healthy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return controlplane.Status(cmd.Context(), *stateDir, cmd.OutOrStdout())
		},
	}
}

func newEnv(stateDir *string) *cobra.Command {
	var limited bool
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print `export KUBECONFIG=...` for the cluster (eval \"$(llama-cluster env)\")",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, err := controlplane.ReadInfo(*stateDir)
			if err != nil {
				return fmt.Errorf("no ready cluster in %s (run `llama-cluster up`): %w", *stateDir, err)
			}
			kc := info.Kubeconfig
			if limited {
				kc = info.LimitedKubeconfig
			}
			fmt.Fprintf(cmd.OutOrStdout(), "export KUBECONFIG=%s\n", kc)
			return nil
		},
	}
	cmd.Flags().BoolVar(&limited, "limited", false, "the kubeconfig of the limited user instead of the admin")
	return cmd
}

func newNodes(stateDir, poolsFile *string) *cobra.Command {
	cmd := &cobra.Command{Use: "nodes", Short: "Add or remove simulated node pools of a running cluster"}
	var profile string
	var poolKeys []string
	pick := func() ([]controlplane.Pool, error) {
		np, err := loadPools(*poolsFile)
		if err != nil {
			return nil, err
		}
		switch {
		case profile != "" && len(poolKeys) > 0:
			return nil, fmt.Errorf("use --profile or --pool, not both")
		case profile != "":
			return np.Profile(profile)
		case len(poolKeys) > 0:
			return np.PoolsByKey(poolKeys...)
		}
		return nil, fmt.Errorf("name a --profile or --pool")
	}
	add := &cobra.Command{
		Use:   "add (--profile NAME | --pool KEY...)",
		Short: "Create the nodes of a profile's pools (existing ones are kept) and wait until Ready",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pools, err := pick()
			if err != nil {
				return err
			}
			_, err = controlplane.AddNodes(cmd.Context(), *stateDir, pools, cmd.OutOrStdout())
			return err
		},
	}
	remove := &cobra.Command{
		Use:   "remove (--profile NAME | --pool KEY...)",
		Short: "Delete the nodes of the pools",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pools, err := pick()
			if err != nil {
				return err
			}
			return controlplane.RemoveNodes(cmd.Context(), *stateDir, pools, cmd.OutOrStdout())
		},
	}
	for _, c := range []*cobra.Command{add, remove} {
		c.Flags().StringVar(&profile, "profile", "", "every pool of this profile")
		c.Flags().StringSliceVar(&poolKeys, "pool", nil, "pool keys from the node pools file")
	}
	cmd.AddCommand(add, remove)
	return cmd
}

func newProfiles(poolsFile *string) *cobra.Command {
	return &cobra.Command{
		Use:   "profiles",
		Short: "List the node pool profiles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			np, err := loadPools(*poolsFile)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROFILE\tPOOL\tMODE\tNODES\tMACHINE\tACCELERATOR\tGPUS\tCPU\tMEMORY")
			for _, name := range np.ProfileNames() {
				pools, _ := np.Profile(name)
				for _, p := range pools {
					acc := p.Accelerator
					if acc == "" {
						acc = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", name, p.Key, p.Mode, p.Count, p.MachineType, acc, p.GPUs, p.CPU, p.Memory)
				}
			}
			return tw.Flush()
		},
	}
}
