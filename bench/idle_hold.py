#!/usr/bin/env python3
"""Holds idle TCP connections open, for measuring what each costs a relay.

  idle_hold.py server PORT          accept and hold every connection; print the count on SIGUSR1
  idle_hold.py client PORT COUNT    open COUNT connections to 127.0.0.1:PORT, print "ready N", hold
  idle_hold.py tls PORT COUNT       open COUNT TLS connections, make one keep-alive GET /small on each,
                                    print "ready N", hold them idle

Both sides bind 127.0.0.1 only and exit on SIGTERM.
"""
import asyncio
import signal
import socket
import sys


async def server(port):
    held = []

    async def on_client(reader, writer):
        held.append(writer)
        try:
            await reader.read()  # returns at EOF; idle clients never send
        finally:
            writer.close()

    srv = await asyncio.start_server(on_client, "127.0.0.1", port, backlog=8192)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: print(f"held {len(held)}", flush=True))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("listening", flush=True)
    async with srv:
        await stop.wait()


def client(port, count):
    sockets = []
    for i in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        sockets.append(s)
    print(f"ready {len(sockets)}", flush=True)
    signal.sigwait([signal.SIGTERM])


async def tls_client(port, count):
    import ssl
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    gate = asyncio.Semaphore(64)
    held = []

    async def one():
        async with gate:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost"), 20)
            writer.write(b"GET /small HTTP/1.1\r\nHost: bench\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            await asyncio.wait_for(reader.readexactly(length), 20)
            held.append(writer)

    results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, Exception)]
    print(f"ready {len(held)}" + (f" ({len(failures)} failed: {failures[0]!r})" if failures else ""), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


if __name__ == "__main__":
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "server":
        asyncio.run(server(port))
    elif mode == "tls":
        asyncio.run(tls_client(port, int(sys.argv[3])))
    else:
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
        client(port, int(sys.argv[3]))
