/* Stand-in for the nginx of registry.k8s.io/e2e-test-images/nginx, with what critest looks at:
 * a process named "nginx" whose command line says "master process", its pid in
 * /var/run/nginx.pid, and a web server on the port given as argv[1] (busybox httpd, a child).
 * It ends that child and exits on SIGTERM, SIGINT or SIGQUIT, also as a container's pid 1. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TITLE "nginx: master process nginx -g daemon off;"

static pid_t server;

static void stop(int sig) {
  (void)sig;
  if (server > 0) kill(server, SIGTERM);
  _exit(0);
}

int main(int argc, char **argv) {
  const char *port = argc > 1 ? argv[1] : "80";
  if (strcmp(argv[0], TITLE) != 0) {
    /* Again under nginx's process title; the file name keeps the process name "nginx". */
    execl("/usr/sbin/nginx", TITLE, port, (char *)NULL);
    perror("exec /usr/sbin/nginx");
    return 1;
  }
  struct sigaction sa = {0};
  sa.sa_handler = stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGQUIT, &sa, NULL);
  FILE *f = fopen("/var/run/nginx.pid", "w");
  if (f == NULL || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) {
    perror("/var/run/nginx.pid");
    return 1;
  }
  server = fork();
  if (server < 0) {
    perror("fork");
    return 1;
  }
  if (server == 0) {
    execl("/bin/busybox", "httpd", "-f", "-p", port, "-h", "/htdocs", (char *)NULL);
    perror("exec httpd");
    _exit(127);
  }
  printf("nginx: serving /htdocs on port %s\n", port);
  fflush(stdout);
  for (;;) {
    int status;
    pid_t pid = wait(&status);
    if (pid == server) return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    if (pid < 0) pause();
  }
}
