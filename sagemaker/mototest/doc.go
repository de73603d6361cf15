// Package mototest starts a real AWS API endpoint on loopback for tests: moto_server, the
// Python moto library's stand-alone server (S3, SageMaker, ...), as net/http/httptest starts an
// HTTP server. moto_server and the aws CLI come with the machine's Python tools (CI puts them
// on PATH); a test that needs them fails, with a hint, where they are missing. The loader's
// and the SageMaker tests import it; nothing else does.
package mototest
