// Command natssl trains self-supervised image encoders on natural-world photo collections and
// scores them with the NeWT linear probe. See README.md.
package main

import (
	"os"

	"github.com/natssl/natssl/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
