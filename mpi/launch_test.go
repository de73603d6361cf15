package mpi

import (
	"strings"
	"testing"
	"time"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    launch
		wantErr string
	}{
		{name: "plain process", env: map[string]string{"SLURM_NTASKS": "4", "PATH": "/bin"}},
		{name: "mpirun", env: map[string]string{"OMPI_COMM_WORLD_SIZE": "4", "PMIX_RANK": "2"},
			want: launch{by: "mpirun (Open MPI)", key: "OMPI_COMM_WORLD_SIZE", val: "4", size: 4, killGrace: time.Second}},
		{name: "mpirun --mca odls_base_sigkill_timeout 30", env: map[string]string{"OMPI_COMM_WORLD_SIZE": "2", "OMPI_MCA_odls_base_sigkill_timeout": "30"},
			want: launch{by: "mpirun (Open MPI)", key: "OMPI_COMM_WORLD_SIZE", val: "2", size: 2, killGrace: 30 * time.Second}},
		{name: "mpirun -np 1", env: map[string]string{"OMPI_COMM_WORLD_SIZE": "1"},
			want: launch{by: "mpirun (Open MPI)", key: "OMPI_COMM_WORLD_SIZE", val: "1", size: 1, killGrace: time.Second}},
		{name: "hydra", env: map[string]string{"PMI_SIZE": "8", "PMI_RANK": "3"},
			want: launch{by: "an MPI launcher (PMI)", key: "PMI_SIZE", val: "8", size: 8}},
		{name: "mvapich", env: map[string]string{"MV2_COMM_WORLD_SIZE": "2"},
			want: launch{by: "mpirun (MVAPICH)", key: "MV2_COMM_WORLD_SIZE", val: "2", size: 2}},
		{name: "srun", env: map[string]string{"SLURM_STEP_NUM_TASKS": "16", "SLURM_NTASKS": "16"},
			want: launch{by: "srun", key: "SLURM_STEP_NUM_TASKS", val: "16", size: 16}},
		{name: "pmix rank 3", env: map[string]string{"PMIX_RANK": "3"},
			want: launch{by: "a PMIx launcher", key: "PMIX_RANK", val: "3", rank: 3}},
		{name: "pmix rank 0", env: map[string]string{"PMIX_RANK": "0"},
			want: launch{by: "a PMIx launcher", key: "PMIX_RANK", val: "0"}},
		{name: "bad size", env: map[string]string{"OMPI_COMM_WORLD_SIZE": "two"},
			wantErr: `mpi: environment OMPI_COMM_WORLD_SIZE="two": not a process count`},
		{name: "zero size", env: map[string]string{"SLURM_STEP_NUM_TASKS": "0"},
			wantErr: `mpi: environment SLURM_STEP_NUM_TASKS="0": not a process count`},
		{name: "bad rank", env: map[string]string{"PMIX_RANK": "-1"},
			wantErr: `mpi: environment PMIX_RANK="-1": not a rank`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := detect(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestLaunchString(t *testing.T) {
	for _, tc := range []struct {
		l          launch
		want       string
		many, ever bool
	}{
		{launch{}, "no MPI launcher", false, false},
		{launch{by: "srun", key: "SLURM_STEP_NUM_TASKS", val: "4", size: 4}, "srun started 4 processes (SLURM_STEP_NUM_TASKS=4)", true, true},
		{launch{by: "mpirun (Open MPI)", key: "OMPI_COMM_WORLD_SIZE", val: "1", size: 1}, "mpirun (Open MPI) started 1 process (OMPI_COMM_WORLD_SIZE=1)", false, true},
		{launch{by: "a PMIx launcher", key: "PMIX_RANK", val: "2", rank: 2}, "a PMIx launcher started this process as rank 2 (PMIX_RANK=2)", true, true},
	} {
		if got := tc.l.String(); got != tc.want || tc.l.many() != tc.many || tc.l.launched() != tc.ever {
			t.Errorf("%+v: %q many %v launched %v; want %q %v %v", tc.l, got, tc.l.many(), tc.l.launched(), tc.want, tc.many, tc.ever)
		}
		if strings.Contains(tc.want, "\n") {
			t.Errorf("%q: not one line", tc.want)
		}
	}
}
