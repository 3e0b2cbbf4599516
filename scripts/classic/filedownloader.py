"""The second classic (see shared/seeds/004_*), written faithfully as it is described: a
FileDownloader class with a Semaphore of max_threads, a browser User-Agent, a Downloads
folder made on demand, resume by HEAD Content-Length and a Range request appended to the file,
1 KiB blocks, a 30 s timeout, one thread per file. The benchmark plays it as a peer.

    filedownloader.py LIST OUTDIR [MAX_THREADS]
"""
import os
import sys
import threading

import requests


class FileDownloader:
    def __init__(self, max_threads=10, folder="Downloads"):
        self.sema = threading.Semaphore(value=max_threads)
        self.headers = {
            "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/62.0.3202.94 Safari/537.36"
        }
        self.block_size = 1024
        self.folder = folder
        self.threads = []

    def t_getfile(self, link, filename, session):
        self.sema.acquire()
        filepath = os.path.join(self.folder, str(filename))
        os.makedirs(os.path.dirname(filepath), exist_ok=True)
        if not os.path.isfile(filepath):
            self.download_new_file(link, filepath, session)
        else:
            current_bytes = os.stat(filepath).st_size
            headers = requests.head(link).headers
            if "content-length" not in headers:
                print(f"server doesn't support content-length for {link}")
                self.sema.release()
                return
            total_bytes = int(requests.head(link).headers["content-length"])
            if current_bytes < total_bytes:
                self.continue_file_download(link, filepath, current_bytes, total_bytes)
            else:
                print(f"already done: {filename}")
        self.sema.release()

    def download_new_file(self, link, filepath, session):
        print(f"downloading: {filepath}")
        if session is None:
            try:
                request = requests.get(link, headers=self.headers, timeout=30, stream=True)
                self.write_file(request, filepath, "wb")
            except requests.exceptions.RequestException as e:
                print(e)
        else:
            request = session.get(link, stream=True)
            self.write_file(request, filepath, "wb")

    def continue_file_download(self, link, filepath, current_bytes, total_bytes):
        print(f"resuming: {filepath}")
        range_header = self.headers.copy()
        range_header["Range"] = f"bytes={current_bytes}-{total_bytes}"
        try:
            request = requests.get(link, headers=range_header, timeout=30, stream=True)
            self.write_file(request, filepath, "ab")
        except requests.exceptions.RequestException as e:
            print(e)

    def write_file(self, content, filepath, writemode):
        with open(filepath, writemode) as f:
            for chunk in content.iter_content(chunk_size=self.block_size):
                if chunk:
                    f.write(chunk)
        print(f"completed file {filepath}", end="\n")

    def get_file(self, link, filename, session=None):
        thread = threading.Thread(target=self.t_getfile, args=(link, filename, session))
        self.threads.append(thread)
        thread.start()


if __name__ == "__main__":
    urls = [line.strip() for line in open(sys.argv[1]) if line.strip()]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    downloader = FileDownloader(max_threads=threads, folder=sys.argv[2])
    for url in urls:
        downloader.get_file(url, url.rsplit("/", 1)[-1])
    for t in downloader.threads:
        t.join()
