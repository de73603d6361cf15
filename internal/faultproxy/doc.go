// Package faultproxy is a TCP proxy on loopback that makes a real server misbehave as networks
// do: it resets connections (a refusal, a reset rate), stalls them (accepted, never answered),
// or cuts them after some bytes of the answer. Tests and the fault campaign put it in front of
// moto_server to check that S3 reads retry, log, and give up only when told to.
//
// It knows nothing of HTTP or S3: which requests fail is a matter of connections and bytes.
package faultproxy
