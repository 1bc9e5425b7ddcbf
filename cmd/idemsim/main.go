package main

import (
	"os"

	"github.com/idemsim/idemsim/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
