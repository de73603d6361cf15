package trainer

import (
	"fmt"
	"strings"

	G "gorgonia.org/gorgonia"
)

// newMachine is the one place where a device name becomes a Gorgonia VM. The default build
// runs every replica on the CPU; a CUDA build (-tags cuda) replaces this choice for cuda:N.
func newMachine(device string, g *G.ExprGraph) (G.VM, error) {
	switch {
	case device == "cpu":
		return G.NewTapeMachine(g), nil
	case strings.HasPrefix(device, "cuda:"):
		return nil, fmt.Errorf("trainer: device %s: this natssl was built without CUDA (build with -tags cuda)", device)
	}
	return nil, fmt.Errorf("trainer: unknown device %q (want cpu or cuda:N)", device)
}
