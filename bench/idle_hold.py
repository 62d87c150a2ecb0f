#!/usr/bin/env python3
"""Holds idle TCP connections open, for measuring what each costs a relay.

  idle_hold.py server PORT          accept and hold every connection; print the count on SIGUSR1
  idle_hold.py client PORT COUNT    open COUNT connections to 127.0.0.1:PORT, print "ready N", hold

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


if __name__ == "__main__":
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "server":
        asyncio.run(server(port))
    else:
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
        client(port, int(sys.argv[3]))
