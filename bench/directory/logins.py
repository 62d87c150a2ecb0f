"""IMAP login load: CONCURRENCY clients each connect, LOGIN, LOGOUT, again, for SECONDS.

Prints logins per second and the median and 99th percentile time of one connect+login+logout.
Every login must answer OK: a NO or a dropped connection counts as an error and is reported.
"""
import argparse, asyncio, random, statistics, time

async def one(port, user, password):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        greeting = await reader.readline()
        if not greeting.startswith(b"* OK"):
            raise RuntimeError(greeting)
        writer.write(b"a LOGIN %s %s\r\n" % (user.encode(), password.encode()))
        while True:
            line = await reader.readline()
            if not line:
                raise RuntimeError("closed")
            if line.startswith(b"a "):
                if not line.startswith(b"a OK"):
                    raise RuntimeError(line)
                break
        writer.write(b"b LOGOUT\r\n")
        while True:
            line = await reader.readline()
            if not line or line.startswith(b"b "):
                break
    finally:
        writer.close()

async def client(port, users, deadline, times, errors):
    while time.monotonic() < deadline:
        user = random.choice(users)
        start = time.monotonic()
        try:
            await one(port, user, user + "-demo")
            times.append(time.monotonic() - start)
        except Exception as error:
            errors.append(str(error))
            await asyncio.sleep(0.01)

async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    users = ["u%d" % n for n in range(args.users)]
    times, errors = [], []
    deadline = time.monotonic() + args.seconds
    started = time.monotonic()
    await asyncio.gather(*(client(args.port, users, deadline, times, errors) for _ in range(args.concurrency)))
    elapsed = time.monotonic() - started
    times.sort()
    p99 = times[int(len(times) * 0.99) - 1] if times else 0
    print("%.0f %.2f %.2f %d" % (len(times) / elapsed, 1000 * statistics.median(times) if times else 0, 1000 * p99, len(errors)))

asyncio.run(main())
