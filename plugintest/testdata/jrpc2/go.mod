module plugsock.test/jrpc2plugin

go 1.25.0

require github.com/creachadair/jrpc2 v1.3.5

require (
	github.com/creachadair/mds v0.26.1 // indirect
	golang.org/x/sync v0.19.0 // indirect
)
