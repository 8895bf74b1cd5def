package dev.lamina.content;

import java.io.Closeable;

/** All of the content store; consumers ask for the narrowest part they need. */
public interface Store extends Provider, Ingester, IngestManager, Manager, Closeable {}
