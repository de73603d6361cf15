// Package redact masks credentials in text that natssl stores or prints: the user:password@
// of a URL (an S3-compatible endpoint such as http://KEY:SECRET@minio:9000), and the values
// of query parameters that carry secrets (X-Amz-Signature, X-Amz-Credential,
// X-Amz-Security-Token, token, password, ...). It is the one rule for this: the config's
// YAML and flattened params, the tracker's records (command lines, error messages) and the
// command line's error output all pass through String.
//
// Which values are secret is its only concern: what to store, and where, is the callers'.
package redact
