// ttrpcpeer is a test-only peer for the Java ttrpc implementation: it runs containerd's own Go
// ttrpc (github.com/containerd/ttrpc) as a server or as a client, so the Java tests check interop
// against the reference implementation. It is never shipped.
//
//	ttrpcpeer serve <socket>   serve kataoperator.test.Echo until killed; prints "listening"
//	ttrpcpeer call <socket>    run the client checks against a Java server; prints one line per
//	                           check ("ok name" or "FAIL name: why"), exits 1 if any failed
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const service = "kataoperator.test.Echo"

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: ttrpcpeer serve|call <socket>")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		if err := serve(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "call":
		os.Exit(call(os.Args[2]))
	default:
		os.Exit(2)
	}
}

func serve(path string) error {
	s, err := ttrpc.NewServer()
	if err != nil {
		return err
	}
	s.RegisterService(service, &ttrpc.ServiceDesc{
		Methods: map[string]ttrpc.Method{
			"Echo": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
				var req wrapperspb.StringValue
				if err := unmarshal(&req); err != nil {
					return nil, err
				}
				return wrapperspb.String(req.Value), nil
			},
			"Sleep": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
				var req wrapperspb.Int64Value
				if err := unmarshal(&req); err != nil {
					return nil, err
				}
				time.Sleep(time.Duration(req.Value) * time.Millisecond)
				return wrapperspb.Int64(req.Value), nil
			},
			"Fail": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
				var req wrapperspb.Int32Value
				if err := unmarshal(&req); err != nil {
					return nil, err
				}
				return nil, status.Errorf(codes.Code(req.Value), "failed with %d", req.Value)
			},
			"Deadline": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
				if err := unmarshal(&emptypb.Empty{}); err != nil {
					return nil, err
				}
				dl, ok := ctx.Deadline()
				if !ok {
					return wrapperspb.Int64(-1), nil
				}
				return wrapperspb.Int64(time.Until(dl).Milliseconds()), nil
			},
			"Metadata": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
				var req wrapperspb.StringValue
				if err := unmarshal(&req); err != nil {
					return nil, err
				}
				v, _ := ttrpc.GetMetadataValue(ctx, req.Value)
				return wrapperspb.String(v), nil
			},
			"Big": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
				var req wrapperspb.Int32Value
				if err := unmarshal(&req); err != nil {
					return nil, err
				}
				return wrapperspb.Bytes(make([]byte, req.Value)), nil
			},
		},
	})
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	fmt.Println("listening")
	return s.Serve(context.Background(), l)
}

type checker struct {
	failed bool
}

func (c *checker) check(name string, err error) {
	if err != nil {
		c.failed = true
		fmt.Printf("FAIL %s: %v\n", name, err)
		return
	}
	fmt.Printf("ok %s\n", name)
}

func wantCode(err error, code codes.Code, msgPart string) error {
	if err == nil {
		return fmt.Errorf("expected %v, got success", code)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("not a status error: %v", err)
	}
	if st.Code() != code {
		return fmt.Errorf("expected %v, got %v (%q)", code, st.Code(), st.Message())
	}
	if !strings.Contains(st.Message(), msgPart) {
		return fmt.Errorf("message %q does not contain %q", st.Message(), msgPart)
	}
	return nil
}

func call(path string) int {
	conn, err := net.Dial("unix", path)
	if err != nil {
		fmt.Println("FAIL dial:", err)
		return 1
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()
	ctx := context.Background()
	c := &checker{}

	c.check("echo", func() error {
		var resp wrapperspb.StringValue
		if err := client.Call(ctx, service, "Echo", wrapperspb.String("hello from go"), &resp); err != nil {
			return err
		}
		if resp.Value != "hello from go" {
			return fmt.Errorf("got %q", resp.Value)
		}
		return nil
	}())

	c.check("concurrent", func() error {
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i := 0; i < 100; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				var resp wrapperspb.Int64Value
				// later calls sleep less, so responses come back out of order
				ms := int64(100 - i)
				if err := client.Call(ctx, service, "Sleep", wrapperspb.Int64(ms), &resp); err != nil {
					errs <- err
					return
				}
				if resp.Value != ms {
					errs <- fmt.Errorf("call %d got %d", i, resp.Value)
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		return <-errs
	}())

	c.check("status-code", wantCode(
		client.Call(ctx, service, "Fail", wrapperspb.Int32(int32(codes.NotFound)), &emptypb.Empty{}),
		codes.NotFound, "failed with 5"))

	c.check("handler-exception", wantCode(
		client.Call(ctx, service, "Boom", &emptypb.Empty{}, &emptypb.Empty{}),
		codes.Unknown, "boom"))

	c.check("unknown-method", wantCode(
		client.Call(ctx, service, "NoSuchMethod", &emptypb.Empty{}, &emptypb.Empty{}),
		codes.Unimplemented, "NoSuchMethod"))

	c.check("unknown-service", wantCode(
		client.Call(ctx, "no.such.Service", "Echo", &emptypb.Empty{}, &emptypb.Empty{}),
		codes.Unimplemented, "no.such.Service"))

	c.check("deadline", func() error {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var resp wrapperspb.Int64Value
		if err := client.Call(tctx, service, "Deadline", &emptypb.Empty{}, &resp); err != nil {
			return err
		}
		if resp.Value < 5000 || resp.Value > 10000 {
			return fmt.Errorf("server saw %d ms left", resp.Value)
		}
		if err := client.Call(ctx, service, "Deadline", &emptypb.Empty{}, &resp); err != nil {
			return err
		}
		if resp.Value != -1 {
			return fmt.Errorf("server saw a deadline without one: %d", resp.Value)
		}
		return nil
	}())

	c.check("metadata", func() error {
		mctx := ttrpc.WithMetadata(ctx, ttrpc.MD{"x-test": []string{"value-1"}})
		var resp wrapperspb.StringValue
		if err := client.Call(mctx, service, "Metadata", wrapperspb.String("x-test"), &resp); err != nil {
			return err
		}
		if resp.Value != "value-1" {
			return fmt.Errorf("got %q", resp.Value)
		}
		return nil
	}())

	c.check("big-response-refused", wantCode(
		client.Call(ctx, service, "Big", wrapperspb.Int32(5<<20), &wrapperspb.BytesValue{}),
		codes.ResourceExhausted, "exceeds maximum"))

	c.check("still-usable", func() error {
		var resp wrapperspb.StringValue
		err := client.Call(ctx, service, "Echo", wrapperspb.String("again"), &resp)
		if err == nil && resp.Value != "again" {
			err = errors.New("wrong echo")
		}
		return err
	}())

	if c.failed {
		return 1
	}
	return 0
}
