"""Shared by the bench/ Python workloads: run one function on N threads at once and print
"seconds stale", the line the bench/ scripts read."""
import threading
import time


def run_and_report(threads, work):
    """Runs work(i, stale) for i in 0..threads, all at once; each thread counts the stale
    reads it saw in stale[i]. Prints the wall time and the total of stale reads."""
    stale = [0] * threads
    started = [threading.Thread(target=work, args=(i, stale)) for i in range(threads)]
    start = time.monotonic()
    for t in started:
        t.start()
    for t in started:
        t.join()
    print(f"{time.monotonic() - start:.2f} {sum(stale)}")
