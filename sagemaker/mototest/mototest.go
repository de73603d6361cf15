package mototest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Credentials are the fake credentials the tests put in the environment: moto accepts any.
var Credentials = []string{
	"AWS_ACCESS_KEY_ID=testing",
	"AWS_SECRET_ACCESS_KEY=testing",
	"AWS_SESSION_TOKEN=testing",
	"AWS_REGION=us-east-1",
	"AWS_DEFAULT_REGION=us-east-1",
	"AWS_CONFIG_FILE=/dev/null",
	"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	"AWS_EC2_METADATA_DISABLED=true",
}

// SetEnv puts Credentials into the test's environment (restored when it ends).
func SetEnv(t testing.TB) {
	t.Helper()
	for _, kv := range Credentials {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// AWS runs the aws command line against endpoint (with the environment's credentials: see
// SetEnv) and returns its output; a failure ends the test.
func AWS(t testing.TB, endpoint string, args ...string) string {
	t.Helper()
	out, err := exec.Command("aws", append([]string{"--endpoint-url", endpoint}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Start runs moto_server on a free loopback port until the test ends and returns its
// endpoint URL ("http://127.0.0.1:PORT").
func Start(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Fatalf("moto_server is not on PATH (it comes with the machine's Python tools; .ci/run puts the pyenv shims on PATH): the tests need a real AWS endpoint (S3, SageMaker): %v", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	// A file, not a buffer: exec then hands moto the descriptor and no goroutine writes to it.
	logPath := filepath.Join(t.TempDir(), "moto.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	log := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so that the kill reaches python behind the pyenv shim too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return url
		}
		select {
		case err := <-done:
			t.Fatalf("moto_server exited before serving (%v):\n%s", err, log())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s within a minute:\n%s", url, log())
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("mototest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
