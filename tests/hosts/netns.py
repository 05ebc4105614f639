"""Hosts as Linux network namespaces, for tests with several hosts (root only).

A "switch" namespace holds a bridge; each host is a namespace with loopback
and one veth into that bridge, with one address in a private /24. The test
itself runs in the root namespace and reaches the hosts through one more veth
into the bridge (the ".1" address), so nothing but these hosts' addresses and
loopback is ever contacted, and the root namespace's firewall and routes play
no part between hosts. cut(host) sets the host's port on the bridge down: its
packets are dropped silently in both directions, as a failed link or switch
port does, with no error to tell either side. Everything made here is removed
by close(), also after a failure halfway through setup.
"""
import os
import subprocess


def ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout.decode()


class Network:
    def __init__(self):
        # Names and subnet from the pid: two runs on one machine do not collide.
        tag = os.getpid() % 100000
        self.tag = "%05d" % tag
        self.subnet = "10.231.%d" % (tag % 250 + 1)
        self.switch = "icsw" + self.tag
        self.hosts = {}          # name -> (namespace, address, switch-side veth)
        self.root_veth = "icr" + self.tag
        self._made_ns = []
        try:
            self._netns_add(self.switch)
            ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            ip("-n", self.switch, "link", "set", "br0", "up")
            # The test's own leg: root namespace <-> bridge.
            ip("link", "add", self.root_veth, "type", "veth", "peer", "name", "icp" + self.tag)
            ip("link", "set", "icp" + self.tag, "netns", self.switch)
            ip("-n", self.switch, "link", "set", "icp" + self.tag, "master", "br0", "up")
            ip("addr", "add", self.subnet + ".1/24", "dev", self.root_veth)
            ip("link", "set", self.root_veth, "up")
        except BaseException:
            self.close()
            raise

    def _netns_add(self, name):
        ip("netns", "add", name)
        self._made_ns.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def add_host(self, name, octet):
        """A host `name` at <subnet>.<octet>; returns its address."""
        ns = "ic%s-%s" % (self.tag, name)
        addr = "%s.%d" % (self.subnet, octet)
        port = "ic%s%s" % (self.tag, name)[:15]
        self._netns_add(ns)
        ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("link", "set", port, "netns", self.switch)
        ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
        ip("-n", ns, "addr", "add", addr + "/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        self.hosts[name] = (ns, addr, port)
        return addr

    def addr(self, name):
        return self.hosts[name][1]

    def prefix(self, name):
        """The command prefix that runs a program on host `name`."""
        return ["ip", "netns", "exec", self.hosts[name][0]]

    def cut(self, name):
        ip("-n", self.switch, "link", "set", self.hosts[name][2], "down")

    def restore(self, name):
        ip("-n", self.switch, "link", "set", self.hosts[name][2], "up")

    def close(self):
        """Removes every namespace and link made. Processes must be stopped first
        (a namespace with a live process stays until that process exits)."""
        ip("link", "del", self.root_veth, check=False)
        for ns in reversed(self._made_ns):
            ip("netns", "del", ns, check=False)
        self._made_ns = []
        self.hosts = {}
