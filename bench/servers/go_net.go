// Go reference servers, as the net package's documentation writes them: a
// goroutine per connection (TCP_NODELAY is Go's default). The echo is a read
// and write loop over one 16 KiB buffer, like the raw Deno server's: io.Copy
// would splice through a pipe, two more descriptors per connection that 10,000
// idle connections run out of (and that Go keeps pooled after they close).
//
//	go build -o go_net go_net.go && ./go_net <mode> [path]
//
// Modes: tcp-echo, unix-echo, tcp-oneshot (the seed handler: one read of at
// most 1024 bytes, trimmed, upper-cased, a newline put back, then close),
// udp-echo and unixdgram-echo (one ReadFrom/WriteTo loop, like the raw Deno
// loop beside it).
package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
)

func ready(where string) {
	fmt.Printf("READY {%s,\"pid\":%d}\n", where, os.Getpid())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func serve(l net.Listener, handle func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			continue // EMFILE and the like: the backlog keeps the connection
		}
		go handle(c)
	}
}

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16*1024)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

func oneShot(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 1024)
	n, _ := c.Read(buf)
	c.Write(append(bytes.ToUpper(bytes.TrimSpace(buf[:n])), '\n'))
}

func datagrams(p net.PacketConn) {
	buf := make([]byte, 65536)
	for {
		n, addr, err := p.ReadFrom(buf)
		if err != nil {
			continue
		}
		p.WriteTo(buf[:n], addr)
	}
}

func main() {
	mode, path := "", ""
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	if len(os.Args) > 2 {
		path = os.Args[2]
	}
	switch mode {
	case "tcp-echo", "tcp-oneshot":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		ready(fmt.Sprintf("\"port\":%d", l.Addr().(*net.TCPAddr).Port))
		if mode == "tcp-echo" {
			serve(l, echo)
		}
		serve(l, oneShot)
	case "unix-echo":
		l, err := net.Listen("unix", path)
		if err != nil {
			fail(err)
		}
		ready(fmt.Sprintf("\"path\":%q", path))
		serve(l, echo)
	case "udp-echo":
		p, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		ready(fmt.Sprintf("\"port\":%d", p.LocalAddr().(*net.UDPAddr).Port))
		datagrams(p)
	case "unixdgram-echo":
		p, err := net.ListenPacket("unixgram", path)
		if err != nil {
			fail(err)
		}
		ready(fmt.Sprintf("\"path\":%q", path))
		datagrams(p)
	}
	fmt.Fprintf(os.Stderr, "Unknown mode %q: use tcp-echo, tcp-oneshot, unix-echo PATH, udp-echo or unixdgram-echo PATH\n", mode)
	os.Exit(2)
}
