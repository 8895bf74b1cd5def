package dev.lamina.services;

import com.google.protobuf.Timestamp;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.mount.Mount;
import dev.lamina.oci.Descriptor;
import dev.lamina.snapshots.Info;
import dev.lamina.snapshots.Kind;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** Conversions between the wire types of the containerd APIs and lamina's values. */
final class Protos {
  private Protos() {}

  static List<Mount> mounts(List<dev.lamina.containerd.types.Mount> in) throws LaminaException {
    List<Mount> out = new ArrayList<>(in.size());
    for (dev.lamina.containerd.types.Mount m : in) {
      if (m.getType().isEmpty()) {
        throw LaminaException.invalidArgument("mount of \"" + m.getSource() + "\" has no type");
      }
      out.add(new Mount(m.getType(), m.getSource(), m.getTarget(), m.getOptionsList()));
    }
    return out;
  }

  static List<dev.lamina.containerd.types.Mount> toProto(List<Mount> mounts) {
    List<dev.lamina.containerd.types.Mount> out = new ArrayList<>(mounts.size());
    for (Mount m : mounts) {
      out.add(dev.lamina.containerd.types.Mount.newBuilder()
          .setType(m.type())
          .setSource(m.source())
          .setTarget(m.target())
          .addAllOptions(m.options())
          .build());
    }
    return out;
  }

  /** A descriptor from the wire; size 0 there means "not given", and stays 0. */
  static Descriptor descriptor(dev.lamina.containerd.types.Descriptor d) throws LaminaException {
    if (d.getDigest().isEmpty()) {
      throw LaminaException.invalidArgument("descriptor has no digest");
    }
    if (d.getSize() < 0) {
      throw LaminaException.invalidArgument("descriptor of " + d.getDigest() + " has negative size " + d.getSize());
    }
    return new Descriptor(d.getMediaType(), Digest.parse(d.getDigest()), d.getSize(), List.of(),
        d.getAnnotationsMap(), null);
  }

  static dev.lamina.containerd.types.Descriptor toProto(Descriptor d) {
    return dev.lamina.containerd.types.Descriptor.newBuilder()
        .setMediaType(d.mediaType())
        .setDigest(d.digest().toString())
        .setSize(d.size())
        .putAllAnnotations(d.annotations())
        .build();
  }

  static dev.lamina.containerd.snapshots.v1.Info toProto(Info info) {
    var b = dev.lamina.containerd.snapshots.v1.Info.newBuilder()
        .setName(info.name())
        .setParent(info.parent())
        .setKind(toProto(info.kind()))
        .putAllLabels(info.labels());
    if (info.created() != null) {
      b.setCreatedAt(timestamp(info.created()));
    }
    if (info.updated() != null) {
      b.setUpdatedAt(timestamp(info.updated()));
    }
    return b.build();
  }

  static Info info(dev.lamina.containerd.snapshots.v1.Info in) {
    return new Info(kind(in.getKind()), in.getName(), in.getParent(), in.getLabelsMap(),
        in.hasCreatedAt() ? instant(in.getCreatedAt()) : null,
        in.hasUpdatedAt() ? instant(in.getUpdatedAt()) : null);
  }

  static dev.lamina.containerd.snapshots.v1.Kind toProto(Kind kind) {
    if (kind == null) {
      return dev.lamina.containerd.snapshots.v1.Kind.UNKNOWN;
    }
    return switch (kind) {
      case VIEW -> dev.lamina.containerd.snapshots.v1.Kind.VIEW;
      case ACTIVE -> dev.lamina.containerd.snapshots.v1.Kind.ACTIVE;
      case COMMITTED -> dev.lamina.containerd.snapshots.v1.Kind.COMMITTED;
    };
  }

  /** The kind named on the wire, or null for UNKNOWN (an update request need not say). */
  static Kind kind(dev.lamina.containerd.snapshots.v1.Kind kind) {
    return switch (kind) {
      case VIEW -> Kind.VIEW;
      case ACTIVE -> Kind.ACTIVE;
      case COMMITTED -> Kind.COMMITTED;
      default -> null;
    };
  }

  static Timestamp timestamp(Instant t) {
    return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
  }

  static Instant instant(Timestamp t) {
    return Instant.ofEpochSecond(t.getSeconds(), t.getNanos());
  }
}
