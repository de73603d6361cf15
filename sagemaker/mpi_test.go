package sagemaker

import (
	"os"
	"strings"
	"testing"
)

func TestMPIRun(t *testing.T) {
	root := ""
	if os.Geteuid() == 0 {
		root = "--allow-run-as-root "
	}
	for _, tc := range []struct {
		name string
		job  Job
		l    MPILaunch
		want string
	}{
		{"two hosts, one rank each, over eth0",
			Job{Hosts: []string{"algo-1", "algo-2"}, NetworkInterface: "eth0"},
			MPILaunch{Slots: 1, Program: []string{"/usr/local/bin/natssl", "train"}},
			"mpirun " + root + "--bind-to none -np 2 --host algo-1:1,algo-2:1 --mca plm_rsh_no_tree_spawn 1 --mca orte_abort_on_non_zero_status 1 " +
				"--mca btl_tcp_if_include eth0 --mca oob_tcp_if_include eth0 /usr/local/bin/natssl train"},
		{"three hosts of 4 GPUs, a local agent, no interface named",
			Job{Hosts: []string{"algo-1", "algo-2", "algo-3"}},
			MPILaunch{Slots: 4, Program: []string{"natssl", "train", "--set", "x=1"}, RshAgent: "/sim.sh"},
			"mpirun " + root + "--bind-to none -np 12 --host algo-1:4,algo-2:4,algo-3:4 --mca plm_rsh_no_tree_spawn 1 --mca orte_abort_on_non_zero_status 1 " +
				"--mca plm_rsh_agent /sim.sh natssl train --set x=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(tc.job.MPIRun(tc.l), " "); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
