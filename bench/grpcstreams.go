package main

import (
	"context"
	"encoding/json"
	"io"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// gRPC bidirectional streaming of the same records, without protoc: the
// service is described by hand and its messages go through recordCodec,
// which encodes a Record as the same JSON a plugsock stream carries and
// hands the receiver the bytes as they came, as a plugsock stream's Recv
// does.

// recordCodec is the gRPC codec of the comparison: a []byte goes as it is
// and is read as it came; anything else is JSON.
type recordCodec struct{}

func (recordCodec) Name() string { return "plugsock-bench-json" }

func (recordCodec) Marshal(v any) ([]byte, error) {
	switch v := v.(type) {
	case *[]byte:
		return *v, nil
	case []byte:
		return v, nil
	}
	return json.Marshal(v)
}

func (recordCodec) Unmarshal(data []byte, v any) error {
	if b, ok := v.(*[]byte); ok {
		// grpc v1.61 reads every message into a buffer of its own (no
		// receive buffer pool unless one is set), so data may be kept.
		*b = data
		return nil
	}
	return json.Unmarshal(data, v)
}

var recordService = grpc.ServiceDesc{
	ServiceName: "bench.Records",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{
		{StreamName: "Produce", Handler: grpcProduce, ServerStreams: true, ClientStreams: true},
		{StreamName: "Process", Handler: grpcProcess, ServerStreams: true, ClientStreams: true},
	},
}

// grpcProduce is Records.Produce: its first message is a SourceIn.
func grpcProduce(_ any, ss grpc.ServerStream) error {
	var in SourceIn
	if err := ss.RecvMsg(&in); err != nil {
		return err
	}
	rec, _ := makeRecord(in.Size)
	for i := int64(0); in.N == 0 || i < in.N; i++ {
		if err := ss.SendMsg(&rec); err != nil {
			return err
		}
	}
	return nil
}

// grpcProcess is Records.Process: every record back as it came.
func grpcProcess(_ any, ss grpc.ServerStream) error {
	for {
		var rec Record
		if err := ss.RecvMsg(&rec); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := ss.SendMsg(&rec); err != nil {
			return err
		}
	}
}

// serveGRPC serves the records service on l; the returned function stops
// it.
func serveGRPC(l net.Listener) func() {
	srv := grpc.NewServer(grpc.ForceServerCodec(recordCodec{}))
	srv.RegisterService(&recordService, struct{}{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	return func() {
		srv.Stop()
		<-done
	}
}

type grpcStreams struct {
	cc   *grpc.ClientConn
	stop func()
}

func startGRPCStreams(child bool) (streamConn, error) {
	var (
		addr string
		stop func()
	)
	if child {
		a, s, err := spawnKill("grpc")
		if err != nil {
			return nil, err
		}
		addr, stop = a, s
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr, stop = l.Addr().String(), serveGRPC(l)
	}
	cc, err := grpc.Dial(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(recordCodec{})))
	if err != nil {
		stop()
		return nil, err
	}
	return &grpcStreams{cc: cc, stop: stop}, nil
}

func (c *grpcStreams) close() error {
	err := c.cc.Close()
	c.stop()
	return err
}

type grpcStream struct {
	cs     grpc.ClientStream
	cancel context.CancelFunc
}

func (g *grpcStream) next() (int, error) {
	var b []byte
	if err := g.cs.RecvMsg(&b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (g *grpcStream) stop() error {
	g.cancel()
	return nil
}

func (g *grpcStream) send(r *Record) error { return g.cs.SendMsg(r) }

func (g *grpcStream) closeSend() error { return g.cs.CloseSend() }

func (c *grpcStreams) open(ctx context.Context, desc *grpc.StreamDesc) (*grpcStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	cs, err := c.cc.NewStream(ctx, desc, "/"+recordService.ServiceName+"/"+desc.StreamName)
	if err != nil {
		cancel()
		return nil, err
	}
	return &grpcStream{cs: cs, cancel: cancel}, nil
}

func (c *grpcStreams) source(ctx context.Context, size int) (receiver, error) {
	g, err := c.open(ctx, &recordService.Streams[0])
	if err != nil {
		return nil, err
	}
	err = g.cs.SendMsg(&SourceIn{Size: size})
	if err == nil {
		err = g.cs.CloseSend()
	}
	var first []byte
	if err == nil {
		err = g.cs.RecvMsg(&first)
	}
	if err == nil {
		err = checkItem(first, size)
	}
	if err != nil {
		g.cancel()
		return nil, err
	}
	return g, nil
}

func (c *grpcStreams) processor(ctx context.Context) (duplex, error) {
	return c.open(ctx, &recordService.Streams[1])
}
