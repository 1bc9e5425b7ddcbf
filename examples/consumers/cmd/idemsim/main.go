// Command idemsim is idemsim with the three ported consumers added:
// go run ./cmd/idemsim compare --strategies masstransit-inbox,camel-jdbc,redsync-lock
package main

import (
	"fmt"
	"os"

	"github.com/idemsim/idemsim/cli"

	"example.com/consumers"
)

func main() {
	if err := consumers.Register(); err != nil {
		fmt.Fprintln(os.Stderr, "idemsim:", err)
		os.Exit(1)
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
