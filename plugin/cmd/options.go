package cmd

import (
	"context"

	"github.com/spf13/cobra"
)

// releaseOptions is what the commands acting on one existing release share
// (status, wait, logs, port-forward, test, uninstall): the factory and the
// RELEASE argument.
type releaseOptions struct {
	f       *factory
	release string
}

// Complete reads RELEASE (cobra has checked there is one).
func (o *releaseOptions) Complete(args []string) error {
	o.release = args[0]
	return nil
}

// command is kubectl's Options shape: Complete, then Validate, then Run.
type command interface {
	Complete(args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// runCommand is the RunE of a command: Complete, Validate and Run in that
// order, stopping at the first error.
func runCommand(o command) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		if err := o.Complete(args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(c.Context())
	}
}
