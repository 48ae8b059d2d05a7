//! Python's BaseManager example: the two client programs of a Japanese blog
//! post ("Simplest Python RPC") that the project started from, a KV store and
//! a view counter written against stock `multiprocessing.managers`, verbatim
//! but for their address. Stdrpc must serve them unchanged.

/// The example's KV store client, verbatim.
pub const KV_CLIENT: &str = r#"from multiprocessing.managers import BaseManager as Manager
Manager.register("get") # 関数を登録
Manager.register("put")
Manager.register("get_uname")

if __name__ == "__main__":
    port_num = 4343

    manager = Manager(address=('25.48.219.74', port_num), authkey=b"password")
    manager.connect()
    print('get', manager.get('a')) # Noneが帰ってくるはず
    print('put', manager.put('a', 10)) # a -> 10をセット
    print('get', manager.get('a').conjugate()) # 10が帰ってくるはず, (primitive型などは、conjugate関数で値を取り出す)
    print('get_uname', manager.get_uname()) # MacOSでクライアントを実行しているが、ServerのLinuxが帰ってくるはず
"#;

/// The example's view counter client, verbatim.
pub const VIEW_CLIENT: &str = r#"from concurrent.futures import ProcessPoolExecutor
import random
from multiprocessing.managers import BaseManager as Manager
Manager.register("get")  # 関数を登録
Manager.register("inc")

def extract(x):
    if hasattr(x, 'conjugate'):
        return x.conjugate()
    else:
        return x


def hikakin_watch(num):
    port_num = 4343
    manager = Manager(address=('127.0.0.1', port_num), authkey=b"password")
    manager.connect()
    for i in range(1000):
        try:
            now = extract(manager.get('hikakin'))
            print(now)
            manager.inc('hikakin')
        except Exception as exc:
            print(exc)

if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=5) as exe:
        exe.map(hikakin_watch, list(range(5)))
    
    port_num = 4343
    manager = Manager(address=('127.0.0.1', port_num), authkey=b"password")
    manager.connect()
    now = extract(manager.get('hikakin'))
    print(now)
"#;

/// One of the example's clients with its address replaced by ours.
pub fn client_for_port(source: &str, port: u16) -> String {
    source
        .replace("port_num = 4343", &format!("port_num = {port}"))
        .replace("'25.48.219.74'", "'127.0.0.1'")
}
