package dev.lamina.remotes.hosts;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.math.BigInteger;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * Builds the TLS context of a {@link RegistryHost}: the JDK's trust store plus the host's {@code ca}
 * files, or no verification at all with {@code skip_verify}, and its client certificates. Private
 * keys may be PKCS#8 ({@code BEGIN PRIVATE KEY}, RSA, EC or Ed25519) or PKCS#1 ({@code BEGIN RSA
 * PRIVATE KEY}); SEC1 EC keys ({@code BEGIN EC PRIVATE KEY}) must be converted with {@code openssl
 * pkcs8 -topk8 -nocrypt}; encrypted keys are not supported.
 */
public final class TlsContexts {
  private static final Pattern PEM =
      Pattern.compile("-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\\s]+)-----END \\1-----");

  private TlsContexts() {}

  /** The context for {@code host}; the JDK default when it configures no TLS settings. */
  public static SSLContext sslContext(RegistryHost host) throws LaminaException {
    try {
      if (!host.customTls()) {
        return SSLContext.getDefault();
      }
      TrustManager[] trust;
      if (host.skipVerify()) {
        trust = new TrustManager[] {new TrustEverything()};
      } else if (!host.caCerts().isEmpty()) {
        trust = new TrustManager[] {new Either(systemTrust(), extraTrust(host.caCerts()))};
      } else {
        trust = null;
      }
      KeyManager[] keys = null;
      if (!host.clientCerts().isEmpty()) {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        int i = 0;
        for (RegistryHost.ClientCert c : host.clientCerts()) {
          byte[] certPem = read(c.cert());
          byte[] keyPem = c.key() == null ? certPem : read(c.key());
          List<Certificate> chain = certificates(certPem, c.cert());
          if (chain.isEmpty()) {
            throw LaminaException.invalidArgument("no certificate in " + c.cert());
          }
          PrivateKey key = privateKey(keyPem, c.key() == null ? c.cert() : c.key());
          ks.setKeyEntry("client" + i++, key, new char[0], chain.toArray(new Certificate[0]));
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, new char[0]);
        keys = kmf.getKeyManagers();
      }
      SSLContext ctx = SSLContext.getInstance("TLS");
      ctx.init(keys, trust, null);
      return ctx;
    } catch (GeneralSecurityException | IOException e) {
      throw new LaminaException(
          ErrorKind.INVALID_ARGUMENT, "TLS settings of " + host + ": " + e.getMessage(), e);
    }
  }

  private static byte[] read(Path p) throws LaminaException {
    try {
      return Files.readAllBytes(p);
    } catch (IOException e) {
      throw new LaminaException(ErrorKind.INVALID_ARGUMENT, "cannot read " + p + ": " + e, e);
    }
  }

  private static X509TrustManager systemTrust() throws GeneralSecurityException {
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init((KeyStore) null);
    return first(tmf);
  }

  private static X509TrustManager extraTrust(List<Path> files)
      throws GeneralSecurityException, IOException, LaminaException {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    int i = 0;
    for (Path p : files) {
      List<Certificate> certs = certificates(read(p), p);
      if (certs.isEmpty()) {
        throw LaminaException.invalidArgument("no certificate in CA file " + p);
      }
      for (Certificate c : certs) {
        ks.setCertificateEntry("ca" + i++, c);
      }
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ks);
    return first(tmf);
  }

  private static X509TrustManager first(TrustManagerFactory tmf) throws NoSuchAlgorithmException {
    for (TrustManager tm : tmf.getTrustManagers()) {
      if (tm instanceof X509TrustManager x) {
        return x;
      }
    }
    throw new NoSuchAlgorithmException("no X509TrustManager");
  }

  static List<Certificate> certificates(byte[] pem, Path source) throws LaminaException {
    try {
      CertificateFactory cf = CertificateFactory.getInstance("X.509");
      List<Certificate> out = new ArrayList<>();
      Matcher m = PEM.matcher(new String(pem, StandardCharsets.US_ASCII));
      while (m.find()) {
        if (m.group(1).equals("CERTIFICATE")) {
          byte[] der = Base64.getMimeDecoder().decode(m.group(2));
          out.add(cf.generateCertificate(new ByteArrayInputStream(der)));
        }
      }
      return out;
    } catch (CertificateException | IllegalArgumentException e) {
      throw LaminaException.invalidArgument("invalid certificate in " + source + ": " + e.getMessage());
    }
  }

  static PrivateKey privateKey(byte[] pem, Path source) throws LaminaException {
    Matcher m = PEM.matcher(new String(pem, StandardCharsets.US_ASCII));
    while (m.find()) {
      String type = m.group(1);
      if (!type.endsWith("PRIVATE KEY")) {
        continue;
      }
      byte[] der = Base64.getMimeDecoder().decode(m.group(2));
      switch (type) {
        case "PRIVATE KEY" -> {
          for (String alg : List.of("RSA", "EC", "Ed25519", "EdDSA")) {
            try {
              return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException e) {
              // try the next algorithm
            }
          }
          throw LaminaException.invalidArgument("unsupported private key in " + source);
        }
        case "RSA PRIVATE KEY" -> {
          try {
            return KeyFactory.getInstance("RSA")
                .generatePrivate(new PKCS8EncodedKeySpec(pkcs1ToPkcs8(der)));
          } catch (GeneralSecurityException e) {
            throw LaminaException.invalidArgument("invalid RSA private key in " + source);
          }
        }
        default ->
            throw LaminaException.invalidArgument(
                "unsupported private key type \"" + type + "\" in " + source
                    + ": convert it with `openssl pkcs8 -topk8 -nocrypt`");
      }
    }
    throw LaminaException.invalidArgument("no private key in " + source);
  }

  /** Wraps a PKCS#1 RSAPrivateKey in a PKCS#8 PrivateKeyInfo. */
  private static byte[] pkcs1ToPkcs8(byte[] pkcs1) {
    byte[] algId = {
      0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01,
      0x01, 0x05, 0x00
    };
    byte[] version = {0x02, 0x01, 0x00};
    byte[] octet = der(0x04, pkcs1);
    byte[] body = new byte[version.length + algId.length + octet.length];
    System.arraycopy(version, 0, body, 0, version.length);
    System.arraycopy(algId, 0, body, version.length, algId.length);
    System.arraycopy(octet, 0, body, version.length + algId.length, octet.length);
    return der(0x30, body);
  }

  private static byte[] der(int tag, byte[] content) {
    byte[] len;
    if (content.length < 128) {
      len = new byte[] {(byte) content.length};
    } else {
      byte[] n = BigInteger.valueOf(content.length).toByteArray();
      int off = n[0] == 0 ? 1 : 0;
      len = new byte[n.length - off + 1];
      len[0] = (byte) (0x80 | (n.length - off));
      System.arraycopy(n, off, len, 1, n.length - off);
    }
    byte[] out = new byte[1 + len.length + content.length];
    out[0] = (byte) tag;
    System.arraycopy(len, 0, out, 1, len.length);
    System.arraycopy(content, 0, out, 1 + len.length, content.length);
    return out;
  }

  /** Trusts a chain either trust manager trusts. */
  private static final class Either extends X509ExtendedTrustManager {
    private final X509TrustManager a;
    private final X509TrustManager b;

    Either(X509TrustManager a, X509TrustManager b) {
      this.a = a;
      this.b = b;
    }

    private interface Check {
      void run(X509TrustManager tm) throws CertificateException;
    }

    private void either(Check c) throws CertificateException {
      try {
        c.run(a);
      } catch (CertificateException first) {
        try {
          c.run(b);
        } catch (CertificateException second) {
          second.addSuppressed(first);
          throw second;
        }
      }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket s)
        throws CertificateException {
      either(tm -> ((X509ExtendedTrustManager) tm).checkClientTrusted(chain, authType, s));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket s)
        throws CertificateException {
      either(tm -> ((X509ExtendedTrustManager) tm).checkServerTrusted(chain, authType, s));
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine e)
        throws CertificateException {
      either(tm -> ((X509ExtendedTrustManager) tm).checkClientTrusted(chain, authType, e));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine e)
        throws CertificateException {
      either(tm -> ((X509ExtendedTrustManager) tm).checkServerTrusted(chain, authType, e));
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType)
        throws CertificateException {
      either(tm -> tm.checkClientTrusted(chain, authType));
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType)
        throws CertificateException {
      either(tm -> tm.checkServerTrusted(chain, authType));
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      X509Certificate[] x = a.getAcceptedIssuers();
      X509Certificate[] y = b.getAcceptedIssuers();
      X509Certificate[] out = new X509Certificate[x.length + y.length];
      System.arraycopy(x, 0, out, 0, x.length);
      System.arraycopy(y, 0, out, x.length, y.length);
      return out;
    }
  }

  /** {@code skip_verify}: no chain and no host name checks. */
  private static final class TrustEverything extends X509ExtendedTrustManager {
    @Override
    public void checkClientTrusted(X509Certificate[] c, String a, Socket s) {}

    @Override
    public void checkServerTrusted(X509Certificate[] c, String a, Socket s) {}

    @Override
    public void checkClientTrusted(X509Certificate[] c, String a, SSLEngine e) {}

    @Override
    public void checkServerTrusted(X509Certificate[] c, String a, SSLEngine e) {}

    @Override
    public void checkClientTrusted(X509Certificate[] c, String a) {}

    @Override
    public void checkServerTrusted(X509Certificate[] c, String a) {}

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return new X509Certificate[0];
    }
  }
}
