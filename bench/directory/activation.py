"""Time from `ballast db activate` until every new login lands on the new server.

Logs in as USER in a tight loop (several clients at once), asks each session's server its name
(IMAP ID, which Dovecot answers with its imap_id_send name), runs the activate command at a
moment, and prints the seconds from the command's start until the first login after which
every login landed on EXPECT (at least 2 s of logins are watched after it).
"""
import argparse, asyncio, subprocess, time

async def whoami(port, user):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await reader.readline()
        writer.write(b"a LOGIN %s %s-demo\r\nb ID NIL\r\nc LOGOUT\r\n" % (user.encode(), user.encode()))
        name = None
        while True:
            line = await reader.readline()
            if not line:
                break
            if line.startswith(b"* ID"):
                name = line.split(b'"')[3].decode()
            if line.startswith(b"c "):
                break
        return name
    finally:
        writer.close()

async def prober(port, user, stop, seen):
    while not stop.is_set():
        try:
            name = await whoami(port, user)
        except Exception:
            name = None
        seen.append((time.monotonic(), name))

async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", default="u0")
    parser.add_argument("--expect", required=True)
    parser.add_argument("--watch", type=float, default=3)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    stop, seen = asyncio.Event(), []
    tasks = [asyncio.create_task(prober(args.port, args.user, stop, seen)) for _ in range(4)]
    await asyncio.sleep(1)
    started = time.monotonic()
    done = await asyncio.create_subprocess_exec(*args.command, stdout=subprocess.DEVNULL)
    await done.wait()
    await asyncio.sleep(args.watch)
    stop.set()
    await asyncio.gather(*tasks)
    after = sorted((t, name) for t, name in seen if t >= started)
    last_other = max((t for t, name in after if name != args.expect), default=started)
    settled = [t for t, name in after if t > last_other and name == args.expect]
    print("%.3f" % ((settled[0] - started) if settled else -1))

asyncio.run(main())
