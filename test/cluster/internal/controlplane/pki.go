package controlplane

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// User is one identity of the token-auth file.
type User struct {
	Name   string
	Groups []string
	Token  string
}

// Identities the cluster knows. Tokens are generated per cluster.
const (
	AdminUser   = "llama-admin"      // system:masters; <state>/kubeconfig
	LimitedUser = "llama-user"       // no rights until a test binds a Role; <state>/kubeconfig-limited
	KwokUser    = "kwok-controller"  // system:masters
	RunnerUser  = "llama-pod-runner" // system:masters; <state>/etc/pod-runner.kubeconfig
	CMUser      = "system:kube-controller-manager"
	SchedUser   = "system:kube-scheduler"
)

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func newUsers() (map[string]*User, error) {
	users := map[string]*User{
		AdminUser:   {Name: AdminUser, Groups: []string{"system:masters"}},
		LimitedUser: {Name: LimitedUser},
		KwokUser:    {Name: KwokUser, Groups: []string{"system:masters"}},
		RunnerUser:  {Name: RunnerUser, Groups: []string{"system:masters"}},
		CMUser:      {Name: CMUser, Groups: []string{"system:masters"}}, // see --use-service-account-credentials
		SchedUser:   {Name: SchedUser},
	}
	for _, u := range users {
		t, err := randomToken()
		if err != nil {
			return nil, err
		}
		u.Token = t
	}
	return users, nil
}

// writeTokenFile writes the kube-apiserver --token-auth-file
// (token,user,uid,"group1,group2").
func writeTokenFile(path string, users map[string]*User) error {
	var b strings.Builder
	for _, name := range sortedKeys(users) {
		u := users[name]
		fmt.Fprintf(&b, "%s,%s,%s", u.Token, u.Name, u.Name)
		if len(u.Groups) > 0 {
			fmt.Fprintf(&b, ",\"%s\"", strings.Join(u.Groups, ","))
		}
		b.WriteString("\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "EC PRIVATE KEY", der)
}

func newCert(tmpl *x509.Certificate, parent *keyPair, certPath, keyPath string) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	if err := writeKey(keyPath, key); err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

// writePKI creates the cluster CA, the kube-apiserver serving certificate for
// 127.0.0.1 and the service-account signing key pair.
func writePKI(l layout) error {
	ca, err := newCert(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "llama-cluster-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, nil, l.caCert(), l.caKey())
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	if _, err := newCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
	}, ca, l.apiserverCert(), l.apiserverKey()); err != nil {
		return fmt.Errorf("apiserver certificate: %w", err)
	}
	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKey(l.saKey(), sa); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return err
	}
	return writePEM(l.saPub(), "PUBLIC KEY", pub)
}

// writeKubeconfig writes a kubeconfig for one token user.
func writeKubeconfig(path, server string, caPEM []byte, u *User, namespace string) error {
	cfg := clientcmdapi.NewConfig()
	const name = "llama-local"
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[u.Name] = &clientcmdapi.AuthInfo{Token: u.Token}
	ctx := name
	if u.Name != AdminUser {
		ctx = name + "-" + u.Name
	}
	cfg.Contexts[ctx] = &clientcmdapi.Context{Cluster: name, AuthInfo: u.Name, Namespace: namespace}
	cfg.CurrentContext = ctx
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return clientcmd.WriteToFile(*cfg, path)
}
