/* The libvirt domain XML of one kfarm VM: a transient domain with direct
 * kernel boot, the profile's machine, CPU, firmware and extra arguments,
 * one serial console (a pty), and nothing that outlives a poweroff. */
#ifndef KFARM_LIBVIRT_XML_H
#define KFARM_LIBVIRT_XML_H

struct profile;
struct vm_spec;

/* libvirt's arch name is QEMU's target name (qemu-system-TARGET); NULL
 * when the profile's binary is not named so. */
const char *lv_guest_arch(const struct profile *p);

/* The domain: name, what to boot (kernel and initrd as paths on the host),
 * its emulator (absolute, on the host). cpu_arg: the profile's CPU as a
 * pass-through -cpu argument instead of <cpu> (for a CPU libvirt's CPU
 * driver does not model). Every text is escaped. */
char *lv_domain_xml(const char *name, const struct vm_spec *spec, const char *emulator,
		    const char *kernel, const char *initrd, int cpu_arg);

#endif
