/*
 * nslab-init: pid 1 of a lab host.
 *
 * A pid namespace dies with its pid 1, so this process must outlive whatever
 * the attendee does inside: "kill 1", "kill -9 -1" and a fork bomb included.
 * It does one job, the one every init has: it adopts orphans and reaps them,
 * so that terminal shells (which are handed to it as orphans) and the talk's
 * double-forked containers never pile up as zombies against pids.max.
 *
 * Signals sent from inside the namespace reach pid 1 only when it has a
 * handler, so apart from SIGCHLD everything stays at its default and is thus
 * dropped; the lab's owner outside can still end it with SIGKILL.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

static void on_child(int sig) { (void)sig; }

int main(void)
{
    sigset_t chld, none;
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_child;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);

    /* SIGCHLD stays blocked except inside sigsuspend: no wake-up is lost
       between "nothing left to reap" and going to sleep. */
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    sigemptyset(&none);

    for (;;) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        sigsuspend(&none);
    }
}
