// Package mototest starts a real AWS API endpoint on loopback for tests: moto_server, the
// Python moto library's stand-alone server (SageMaker, S3, ...), as net/http/httptest starts an
// HTTP server. moto_server and the aws CLI come with the machine's Python tools (CI installs
// them with pip). Only tests import it.
//
// Owner: the SageMaker engineer.
package mototest
