#!/usr/bin/env python3
"""Writes realistic, deterministic syslog-style lines (sshd, sudo, CRON, kernel,
nginx) for the demo and tests. The project generates its own demo data so it
needs nothing but itself.

usage: generate_logs.py OUTPUT_FILE COUNT [--append] [--seed N]
"""
import argparse
import datetime
import random

HOSTS = ["bastion-01", "bastion-02", "web-01", "web-02", "db-01"]
USERS_BAD = ["root", "admin", "oracle", "postgres", "test", "ubuntu", "pi"]
USERS_GOOD = ["deploy", "alice", "bob", "ci-runner", "backup"]
PATHS = ["/", "/login", "/api/v1/items", "/static/app.js", "/healthz", "/wp-login.php"]


def ip(rnd):
    return f"{rnd.choice([45, 61, 89, 103, 185, 203])}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"


def line(rnd, t):
    host = rnd.choice(HOSTS)
    stamp = f"{t:%b} {t.day:2d} {t:%H:%M:%S}"  # RFC 3164 pads the day with a space
    pid = rnd.randint(1000, 65000)
    k = rnd.randrange(10)
    if k < 3:
        user = rnd.choice(USERS_BAD)
        msg = f"sshd[{pid}]: Failed password for invalid user {user} from {ip(rnd)} port {rnd.randint(1024, 65535)} ssh2"
    elif k < 5:
        user = rnd.choice(USERS_GOOD)
        msg = f"sshd[{pid}]: Accepted publickey for {user} from {ip(rnd)} port {rnd.randint(1024, 65535)} ssh2: ED25519 SHA256:{rnd.getrandbits(128):032x}"
    elif k == 5:
        user = rnd.choice(USERS_GOOD)
        msg = f"sudo[{pid}]: {user} : TTY=pts/{rnd.randint(0, 4)} ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx"
    elif k == 6:
        msg = f"CRON[{pid}]: (root) CMD (test -x /usr/sbin/anacron || run-parts --report /etc/cron.daily)"
    elif k == 7:
        msg = f"kernel: [{rnd.randint(1000, 999999)}.{rnd.randint(0, 999999):06d}] [UFW BLOCK] IN=eth0 OUT= SRC={ip(rnd)} DST=10.0.0.{rnd.randint(2, 40)} PROTO=TCP SPT={rnd.randint(1024, 65535)} DPT={rnd.choice([22, 23, 445, 3389])}"
    else:
        status = rnd.choice([200, 200, 200, 301, 404, 500])
        msg = (f'nginx: {ip(rnd)} - - [{t.strftime("%d/%b/%Y:%H:%M:%S +0000")}] "GET {rnd.choice(PATHS)} HTTP/1.1" '
               f'{status} {rnd.randint(120, 50000)} "-" "Mozilla/5.0 (X11; Linux x86_64)"')
    return f"{stamp} {host} {msg}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output")
    parser.add_argument("count", type=int)
    parser.add_argument("--append", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    t = datetime.datetime(2026, 11, 2, 8, 0, 0)
    with open(args.output, "a" if args.append else "w", encoding="utf-8") as out:
        for _ in range(args.count):
            t += datetime.timedelta(milliseconds=rnd.randint(5, 900))
            out.write(line(rnd, t) + "\n")


if __name__ == "__main__":
    main()
