package cuda

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// LibDirEnv names the environment variable holding the folder searched first.
const LibDirEnv = "NATSSL_CUDA_LIB_DIR"

// Where a library was found, in the order they are searched.
const (
	FromLibDir = LibDirEnv
	FromLoader = "dynamic loader"
	FromPython = "python site-packages"
)

// Options says where to look for the CUDA libraries and where to keep compiled kernels.
type Options struct {
	// LibDir is searched first (NATSSL_CUDA_LIB_DIR); "" skips it.
	LibDir string
	// SitePackages are the Python site-packages folders whose nvidia/*/lib folders are
	// searched last; nil means FindSitePackages, run when the earlier places fail.
	SitePackages []string
	// CacheDir holds compiled kernels; "" means os.UserCacheDir()/natssl/cuda.
	CacheDir string
}

// OptionsFromEnv returns the options the environment sets: NATSSL_CUDA_LIB_DIR.
func OptionsFromEnv() Options { return Options{LibDir: os.Getenv(LibDirEnv)} }

// Library is what a lookup found: the file opened and where it was found.
type Library struct {
	Name    string // driver, cublas, nvrtc, cudnn
	Soname  string // libcublas.so.12
	Path    string // the file opened, as the dynamic loader resolved it
	From    string // FromLibDir, FromLoader or FromPython
	Version string // as the library reports it
}

// libSpec is a library to look for.
type libSpec struct {
	name    string
	sonames []string // in order of preference
	probe   string   // a symbol it exports, to find the file the loader picked
	// companions are loaded first from the folder a library is found in, so that its own
	// dependencies come from there too (pip's wheels rely on RUNPATH $ORIGIN, which
	// LD_LIBRARY_PATH overrides).
	companions func(dir, soname string) []string
}

// LookupError is a library that was not found: its names and every place searched.
type LookupError struct {
	Name     string
	Sonames  []string
	LibDir   string
	Sites    []string // site-packages folders searched
	Failures []string // files found but not loadable, with the loader's reason
	Skipped  string   // sonames left out, and why (a driver too old for them)
}

func (e *LookupError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s not found: searched ", strings.Join(e.Sonames, ", "))
	if e.LibDir == "" {
		b.WriteString(LibDirEnv + " (unset)")
	} else {
		fmt.Fprintf(&b, "%s=%s", LibDirEnv, e.LibDir)
	}
	b.WriteString(", the dynamic loader's paths (LD_LIBRARY_PATH, ld.so.cache, /lib, /usr/lib)")
	if len(e.Sites) == 0 {
		b.WriteString(" and no python site-packages (none found)")
	} else {
		fmt.Fprintf(&b, " and nvidia/*/lib under %s", listSome(e.Sites, 4))
	}
	if len(e.Failures) > 0 {
		fmt.Fprintf(&b, "; found but not loadable: %s", strings.Join(e.Failures, "; "))
	}
	if e.Skipped != "" {
		fmt.Fprintf(&b, "; %s", e.Skipped)
	}
	return b.String()
}

func listSome(xs []string, n int) string {
	if len(xs) <= n {
		return strings.Join(xs, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(xs[:n], ", "), len(xs)-n)
}

// searcher finds libraries in the order of Options, discovering site-packages once.
type searcher struct {
	opts    Options
	sites   []string
	sitesOK bool
}

func (s *searcher) sitePackages() []string {
	if !s.sitesOK {
		s.sites, s.sitesOK = s.opts.SitePackages, true
		if s.sites == nil {
			s.sites = FindSitePackages(context.Background())
		}
	}
	return s.sites
}

// find opens the first of spec's sonames found, searching NATSSL_CUDA_LIB_DIR, then the
// dynamic loader, then site-packages. A file that exists but does not load is remembered
// for the error and the search goes on.
func (s *searcher) find(spec libSpec) (*library, Library, error) {
	var failures []string
	try := func(path, from, soname string, companions bool) (*library, Library, bool) {
		if companions && spec.companions != nil {
			for _, c := range spec.companions(filepath.Dir(path), soname) {
				if _, err := dlopen(c, true); err != nil && !errors.Is(err, errNoFile) {
					failures = append(failures, fmt.Sprintf("%s: %v", c, err))
				}
			}
		}
		l, err := dlopen(path, false)
		if err != nil {
			if !errors.Is(err, errNoFile) {
				failures = append(failures, fmt.Sprintf("%s: %v", path, err))
			}
			return nil, Library{}, false
		}
		l.resolve(spec.probe)
		return l, Library{Name: spec.name, Soname: soname, Path: l.path, From: from}, true
	}
	if s.opts.LibDir != "" {
		for _, so := range spec.sonames {
			p := filepath.Join(s.opts.LibDir, so)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			if l, info, ok := try(p, FromLibDir, so, true); ok {
				return l, info, nil
			}
		}
	}
	for _, so := range spec.sonames {
		if l, info, ok := try(so, FromLoader, so, false); ok {
			return l, info, nil
		}
	}
	sites := s.sitePackages()
	for _, site := range sites {
		for _, so := range spec.sonames {
			matches, _ := filepath.Glob(filepath.Join(site, "nvidia", "*", "lib", so)) // in lexical order
			for _, p := range matches {
				if l, info, ok := try(p, FromPython, so, true); ok {
					return l, info, nil
				}
			}
		}
	}
	return nil, Library{}, &LookupError{Name: spec.name, Sonames: spec.sonames, LibDir: s.opts.LibDir,
		Sites: sites, Failures: failures}
}

// cublasCompanions is the cuBLASLt of the same major version, which cuBLAS links to.
func cublasCompanions(dir, soname string) []string {
	major := strings.TrimPrefix(soname, "libcublas.so.")
	return []string{filepath.Join(dir, "libcublasLt.so."+major)}
}

// nvrtcCompanions is NVRTC's builtins library, which NVRTC opens itself at compile time.
func nvrtcCompanions(dir, soname string) []string {
	major := strings.TrimPrefix(soname, "libnvrtc.so.")
	m, _ := filepath.Glob(filepath.Join(dir, "libnvrtc-builtins.so."+major+"*"))
	sort.Strings(m)
	if len(m) == 0 {
		return nil
	}
	return m[len(m)-1:]
}

// FindSitePackages returns the Python site-packages folders that exist on this machine:
// those python3 on PATH reports (its system, user and virtual-environment folders), then
// the usual places of other Pythons (Debian's, /usr/local, ~/.local, conda, pyenv, the
// active virtual environment).
func FindSitePackages(ctx context.Context) []string {
	var dirs []string
	if py, err := exec.LookPath("python3"); err == nil {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, py, "-c",
			"import site\nfor d in site.getsitepackages() + [site.getusersitepackages()]: print(d)").Output()
		if err == nil {
			dirs = append(dirs, strings.Fields(string(out))...)
		}
	}
	home, _ := os.UserHomeDir()
	var patterns []string
	for _, prefix := range []string{os.Getenv("VIRTUAL_ENV"), os.Getenv("CONDA_PREFIX")} {
		if prefix != "" {
			patterns = append(patterns, filepath.Join(prefix, "lib", "python3*", "site-packages"))
		}
	}
	patterns = append(patterns,
		"/usr/lib/python3/dist-packages",
		"/usr/lib/python3*/dist-packages",
		"/usr/lib/python3*/site-packages",
		"/usr/lib64/python3*/site-packages",
		"/usr/local/lib/python3*/dist-packages",
		"/usr/local/lib/python3*/site-packages",
		"/opt/conda/lib/python3*/site-packages",
		"/opt/*/lib/python3*/site-packages",
	)
	if home != "" {
		patterns = append(patterns,
			filepath.Join(home, ".local", "lib", "python3*", "site-packages"),
			filepath.Join(home, ".pyenv", "versions", "*", "lib", "python3*", "site-packages"),
			filepath.Join(home, "miniconda3", "lib", "python3*", "site-packages"),
			filepath.Join(home, "anaconda3", "lib", "python3*", "site-packages"),
		)
	}
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		sort.Strings(m)
		dirs = append(dirs, m...)
	}
	var out []string
	for _, d := range dirs {
		d = filepath.Clean(d)
		if slices.Contains(out, d) {
			continue
		}
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			out = append(out, d)
		}
	}
	return out
}
