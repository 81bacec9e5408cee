#include "libvirt_xml.h"
#include "backend.h"
#include "profile.h"
#include "util.h"

#include <string.h>

static void xml_text(struct sb *sb, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': sb_adds(sb, "&amp;"); break;
		case '<': sb_adds(sb, "&lt;"); break;
		case '>': sb_adds(sb, "&gt;"); break;
		case '\'': sb_adds(sb, "&apos;"); break;
		case '"': sb_adds(sb, "&quot;"); break;
		default: sb_add(sb, s, 1);
		}
	}
}

/* libvirt's arch name is QEMU's target name: qemu-system-TARGET. */
const char *lv_guest_arch(const struct profile *p)
{
	const char *b = strrchr(p->qemu_binary, '/');

	b = b ? b + 1 : p->qemu_binary;
	return strncmp(b, "qemu-system-", 12) ? NULL : b + 12;
}

static void qemu_arg(struct sb *x, const char *a)
{
	sb_adds(x, "    <qemu:arg value='");
	xml_text(x, a);
	sb_adds(x, "'/>\n");
}

/* cpu_arg: -cpu as a pass-through argument instead of <cpu>. */
char *lv_domain_xml(const char *name, const struct vm_spec *spec, const char *emulator,
		    const char *kernel, const char *initrd, int cpu_arg)
{
	const struct profile *p = spec->profile;
	const char *arch = lv_guest_arch(p);
	int x86 = !strcmp(arch, "x86_64") || !strcmp(arch, "i386");
	struct sb x;

	sb_init(&x);
	sb_adds(&x, "<domain type='qemu' "
		    "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n  <name>");
	xml_text(&x, name);
	sb_addf(&x, "</name>\n  <memory unit='MiB'>%u</memory>\n  <vcpu>%u</vcpu>\n",
		spec->memory_mb ? spec->memory_mb : p->memory_mb, spec->smp ? spec->smp : 1);
	sb_adds(&x, "  <os>\n    <type arch='");
	xml_text(&x, arch);
	sb_adds(&x, "' machine='");
	xml_text(&x, p->machine);
	sb_adds(&x, "'>hvm</type>\n    <kernel>");
	xml_text(&x, kernel);
	sb_adds(&x, "</kernel>\n    <initrd>");
	xml_text(&x, initrd);
	sb_adds(&x, "</initrd>\n    <cmdline>");
	xml_text(&x, spec->append);
	sb_adds(&x, "</cmdline>\n  </os>\n");
	if (x86)
		sb_adds(&x, "  <features><acpi/></features>\n");
	if (p->cpu && !cpu_arg) {
		sb_adds(&x, "  <cpu mode='custom' match='exact' check='none'>"
			    "<model fallback='forbid'>");
		xml_text(&x, p->cpu);
		sb_adds(&x, "</model></cpu>\n");
	}
	sb_adds(&x, "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>destroy</on_reboot>\n"
		    "  <on_crash>destroy</on_crash>\n  <devices>\n    <emulator>");
	xml_text(&x, emulator);
	sb_adds(&x, "</emulator>\n    <serial type='pty'><target port='0'/></serial>\n"
		    "    <controller type='usb' model='none'/>\n"
		    "    <memballoon model='none'/>\n  </devices>\n");
	if ((p->firmware && *p->firmware) || (p->args && *p->args) || cpu_arg) {
		sb_adds(&x, "  <qemu:commandline>\n");
		if (cpu_arg) {
			qemu_arg(&x, "-cpu");
			qemu_arg(&x, p->cpu);
		}
		for (char **a = p->firmware; a && *a; a++)
			qemu_arg(&x, *a);
		for (char **a = p->args; a && *a; a++)
			qemu_arg(&x, *a);
		sb_adds(&x, "  </qemu:commandline>\n");
	}
	sb_adds(&x, "</domain>\n");
	return sb_detach(&x);
}

