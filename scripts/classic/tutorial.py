"""The classic tutorial's program, written faithfully as it is described (see
shared/seeds/000_*): requests.get per URL, the body written in one go, a serial loop, then
ThreadPool(cpu_count() - 1).imap_unordered over the same (url, filename) pairs, printing each
URL's time and the total. The benchmark plays it as a peer.

    tutorial.py LIST OUTDIR [THREADS]

LIST holds one URL per line; files go to OUTDIR/<last path segment>. Without THREADS the
pool is cpu_count() - 1, as written; with it (e.g. 8), the same program at the benchmark's
-j. Only the parallel routine runs (the benchmark times the pool, as fetchpool's rows do).
"""
import os
import sys
import time
from multiprocessing import cpu_count
from multiprocessing.pool import ThreadPool

import requests


def download_url(args):
    t0 = time.time()
    url, fn = args[0], args[1]
    try:
        r = requests.get(url)
        with open(fn, "wb") as f:
            f.write(r.content)
        return (url, time.time() - t0)
    except Exception as e:
        print("Exception in download_url():", e)


def download_parallel(args, threads):
    results = ThreadPool(threads).imap_unordered(download_url, args)
    for result in results:
        print("url:", result[0], "time (s):", result[1])


if __name__ == "__main__":
    urls = [line.strip() for line in open(sys.argv[1]) if line.strip()]
    fns = [os.path.join(sys.argv[2], u.rsplit("/", 1)[-1]) for u in urls]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else cpu_count() - 1
    inputs = zip(urls, fns)
    t0 = time.time()
    download_parallel(inputs, threads)
    print("Total time:", time.time() - t0)
