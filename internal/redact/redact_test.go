package redact

import "testing"

func TestString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"endpoint with user and password", "http://AKIAEXAMPLE:wJalrXUtnFEMI@minio.local:9000", "http://xxxxx@minio.local:9000"},
		{"token as user", "https://ghp_abc123@example.com/x", "https://xxxxx@example.com/x"},
		{"inside a sentence", `get "http://u:p%40ss@127.0.0.1:9/b/k": dial tcp: refused`, `get "http://xxxxx@127.0.0.1:9/b/k": dial tcp: refused`},
		{"in a command line", "natssl train --set data.s3.endpoint=http://k:s@h:9000 --set x=1", "natssl train --set data.s3.endpoint=http://xxxxx@h:9000 --set x=1"},
		{"two URLs", "http://a:b@h1 and s3://c:d@h2/p", "http://xxxxx@h1 and s3://xxxxx@h2/p"},
		{"presigned query", "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=abcdef&x=1", "https://b.s3.amazonaws.com/k?X-Amz-Credential=xxxxx&X-Amz-Signature=xxxxx&x=1"},
		{"token query", "http://h/p?token=s3cr3t#frag", "http://h/p?token=xxxxx#frag"},
		{"no credentials", "http://127.0.0.1:9000/bucket", "http://127.0.0.1:9000/bucket"},
		{"s3 URI", "s3://bucket/prefix/train.tar", "s3://bucket/prefix/train.tar"},
		{"not a URL", "user:password@host", "user:password@host"},
		{"an e-mail in a path is not a URL", "/data/me@lab/train", "/data/me@lab/train"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzString(f *testing.F) {
	f.Add("http://u:p@h/x?token=1")
	f.Add("plain text")
	f.Fuzz(func(t *testing.T, s string) {
		once := String(s)
		if String(once) != once {
			t.Errorf("String is not idempotent on %q: %q then %q", s, once, String(once))
		}
	})
}
