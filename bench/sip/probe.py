"""Sends REGISTER every 50 ms until an answer contains the expected text, then prints the
seconds since --since (the moment a pool was stopped). Answers one digest challenge per
attempt when --password is given. Bounded by --timeout."""
import argparse, hashlib, os, random, re, socket, sys, time

parser = argparse.ArgumentParser()
parser.add_argument("--target", required=True)        # host:port
parser.add_argument("--user", required=True)
parser.add_argument("--domain", default="bench.example")
parser.add_argument("--password")
parser.add_argument("--expect", required=True)        # text the final answer must contain
parser.add_argument("--since", type=float, required=True)
parser.add_argument("--timeout", type=float, default=30)
args = parser.parse_args()
host, port = args.target.rsplit(":", 1)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 0))
sock.settimeout(0.25)
local = sock.getsockname()[1]
cseq = 0

def request(call_id, authorization=None):
    global cseq
    cseq += 1
    lines = [f"REGISTER sip:{args.domain} SIP/2.0",
             f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{random.getrandbits(48):x};rport",
             f"From: <sip:{args.user}@{args.domain}>;tag={os.getpid()}", f"To: <sip:{args.user}@{args.domain}>",
             f"Call-ID: {call_id}", f"CSeq: {cseq} REGISTER", f"Contact: <sip:{args.user}@127.0.0.1:{local}>",
             "Expires: 600", "Max-Forwards: 70"]
    if authorization: lines.append(f"Authorization: {authorization}")
    lines += ["Content-Length: 0", "", ""]
    sock.sendto("\r\n".join(lines).encode(), (host, int(port)))

def final():
    while True:
        data = sock.recv(65536).decode(errors="replace")
        status = int(data.split(" ", 2)[1])
        if status >= 200: return status, data

def digest(challenge):
    fields = dict(re.findall(r'(\w+)="?([^",]+)"?', challenge.split("Digest", 1)[1]))
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()
    ha1 = md5(f"{args.user}:{fields['realm']}:{args.password}")
    uri = f"sip:{args.domain}"
    response = md5(f"{ha1}:{fields['nonce']}:00000001:0a4f113b:auth:{md5('REGISTER:' + uri)}")
    return (f'Digest username="{args.user}", realm="{fields["realm"]}", nonce="{fields["nonce"]}", uri="{uri}", '
            f'response="{response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b"')

deadline = time.time() + args.timeout
while time.time() < deadline:
    call_id = f"{random.getrandbits(64):x}@probe"
    try:
        request(call_id)
        status, text = final()
        if status == 401 and args.password:
            challenge = next(l for l in text.split("\r\n") if l.lower().startswith("www-authenticate"))
            request(call_id, digest(challenge))
            status, text = final()
        if args.expect in text:
            print(f"{time.time() - args.since:.2f}")
            sys.exit(0)
    except (socket.timeout, StopIteration, ValueError, IndexError):
        pass
    time.sleep(0.05)
print("timeout", file=sys.stderr)
sys.exit(1)
