/*
 * The writable layer's directories, made at its root by whoever mounts it: the launcher for a
 * tmpfs layer or an image it mounts itself (--layer-image), the spawner for a layer it mounts
 * ahead of a start (its `layer` request), which the launcher then checks holds these and
 * nothing else (--layer-fd). OverlayFS's upper and work directories, the mount point of the
 * idmapped image (its lower layer), and the mount point of the overlay, the sandbox's root.
 */
#ifndef NSLAB_LAYER_H
#define NSLAB_LAYER_H

static const char *const LAYER_DIRS[] = {"upper", "work", "lower", "root"};
#define LAYER_DIR_COUNT (sizeof LAYER_DIRS / sizeof *LAYER_DIRS)

#endif
