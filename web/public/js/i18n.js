// i18n: one table per language; t(key, vars) with {name} placeholders.
const TABLE = {
  en: {
    app: 'Calixio', loading: 'Loading…', working: 'Working…', signin: 'Sign in', signup: 'Sign up',
    signout: 'Sign out', email: 'Email', password: 'Password', name: 'Name', your_name: 'Your name',
    no_account: 'No account yet?', have_account: 'Already have an account?',
    my_rooms: 'My rooms', history: 'History', settings: 'Settings', sessions: 'Sessions',
    create_room: 'Create a room', room_name: 'Room name', access: 'Who can get in',
    access_open: 'Anyone with the link', access_knock: 'Guests ask to join (waiting room)',
    access_invite: 'Invited people only', schedule: 'Starts at (optional)', create: 'Create',
    no_rooms: 'You have no rooms yet. Create one above.', open: 'Open', delete: 'Delete',
    confirm_delete: 'Delete the room "{name}"? This cannot be undone.',
    status_active: 'active', status_pending: 'scheduled', status_ended: 'ended',
    join: 'Join', joining: 'Joining the room…', leave: 'Leave', end_room: 'End the room',
    confirm_end: 'End the room for everyone?', room_ended: 'This room has ended.',
    copy_link: 'Copy link', copied: 'Link copied', room_link: 'Room link',
    mic: 'Microphone', camera: 'Camera', on: 'on', off: 'off',
    media_connecting: 'Connecting to the media server…',
    media_unreachable: 'The media server cannot be reached ({url}), so there is no audio or video right now. Chat, participants, the waiting room and moderation keep working.',
    media_missing: 'The video library is not installed on this server, so there is no audio or video. Everything else keeps working.',
    media_connected: 'Connected to audio and video.',
    participants: 'Participants', nobody: 'Nobody else is here yet.', you: 'you',
    chat: 'Chat', chat_placeholder: 'Write a message', send: 'Send', no_messages: 'No messages yet.',
    waiting_room: 'Waiting room', nobody_waiting: 'Nobody is waiting.', approve: 'Let in', reject: 'Reject',
    remove: 'Remove', ban: 'Ban', mute: 'Mute', promote: 'Make moderator',
    invites: 'Invite links', new_invite: 'New invite link', revoke: 'Revoke', no_invites: 'No invite links.',
    events_unavailable: 'Live updates are not available on this server yet; this page refreshes every few seconds instead.',
    events_reconnecting: 'Live updates interrupted, reconnecting…',
    guest_title: 'Join a meeting', meeting_code: 'Meeting code', continue: 'Continue',
    waiting: 'Waiting for the host to let you in…', rejected: 'The host did not let you in.',
    expired: 'Your request to join expired. Try again.', removed: 'You were removed from the room.',
    feature_missing: 'This part of Calixio is not available on this server yet.',
    no_calls: 'No calls yet.', joined_at: 'Joined', duration: 'Duration', role: 'Role',
    profile: 'Profile', save: 'Save', saved: 'Saved', language: 'Language', theme: 'Theme',
    theme_system: 'System', theme_light: 'Light', theme_dark: 'Dark',
    mic_on_join: 'Microphone on when joining', cam_on_join: 'Camera on when joining',
    current: 'this device', last_used: 'Last used', client: 'Client', revoke_session: 'Sign out there',
    not_found_page: 'There is no such page.', back_home: 'Go to my rooms', retry: 'Try again',
    signed_in_as: 'Signed in as {name}', restore_session: 'Restoring your session…',
    guest_name_hint: 'This is how others will see you.', scheduled_for: 'Scheduled for {at}',
    edit_room: 'Room settings', description: 'Description', locked: 'Locked: nobody new gets in',
    change_password: 'Change password', current_password: 'Current password', new_password: 'New password',
    password_changed: 'Password changed. Every other device was signed out.',
    session_revoked: 'That device was signed out.',
    mic_muted: 'mic off', cam_off: 'camera off', invite_shown_once: 'the link was shown when it was created',
    invite_for: 'Invite ({role})', role_participant: 'participant', role_moderator: 'moderator',
  },
  ru: {
    app: 'Calixio', loading: 'Загрузка…', working: 'Выполняется…', signin: 'Войти', signup: 'Регистрация',
    signout: 'Выйти', email: 'Эл. почта', password: 'Пароль', name: 'Имя', your_name: 'Ваше имя',
    no_account: 'Ещё нет аккаунта?', have_account: 'Уже есть аккаунт?',
    my_rooms: 'Мои комнаты', history: 'История', settings: 'Настройки', sessions: 'Сеансы',
    create_room: 'Создать комнату', room_name: 'Название комнаты', access: 'Кто может войти',
    access_open: 'Все, у кого есть ссылка', access_knock: 'Гости просят разрешения (зал ожидания)',
    access_invite: 'Только приглашённые', schedule: 'Начало (необязательно)', create: 'Создать',
    no_rooms: 'У вас пока нет комнат. Создайте первую выше.', open: 'Открыть', delete: 'Удалить',
    confirm_delete: 'Удалить комнату «{name}»? Это нельзя отменить.',
    status_active: 'идёт', status_pending: 'запланирована', status_ended: 'завершена',
    join: 'Войти в комнату', joining: 'Подключаемся к комнате…', leave: 'Выйти', end_room: 'Завершить встречу',
    confirm_end: 'Завершить встречу для всех?', room_ended: 'Встреча завершена.',
    copy_link: 'Скопировать ссылку', copied: 'Ссылка скопирована', room_link: 'Ссылка на комнату',
    mic: 'Микрофон', camera: 'Камера', on: 'вкл', off: 'выкл',
    media_connecting: 'Подключаемся к медиасерверу…',
    media_unreachable: 'Медиасервер недоступен ({url}), поэтому звука и видео сейчас нет. Чат, участники, зал ожидания и модерация продолжают работать.',
    media_missing: 'На сервере не установлена библиотека видео, поэтому звука и видео нет. Всё остальное работает.',
    media_connected: 'Звук и видео подключены.',
    participants: 'Участники', nobody: 'Пока никого нет.', you: 'вы',
    chat: 'Чат', chat_placeholder: 'Напишите сообщение', send: 'Отправить', no_messages: 'Сообщений пока нет.',
    waiting_room: 'Зал ожидания', nobody_waiting: 'Никто не ждёт.', approve: 'Впустить', reject: 'Отклонить',
    remove: 'Удалить', ban: 'Заблокировать', mute: 'Выключить звук', promote: 'Сделать модератором',
    invites: 'Ссылки-приглашения', new_invite: 'Новая ссылка', revoke: 'Отозвать', no_invites: 'Ссылок нет.',
    events_unavailable: 'Живые обновления на этом сервере пока недоступны; страница обновляется каждые несколько секунд.',
    events_reconnecting: 'Живые обновления прервались, переподключаемся…',
    guest_title: 'Присоединиться к встрече', meeting_code: 'Код встречи', continue: 'Продолжить',
    waiting: 'Ждём, пока организатор впустит вас…', rejected: 'Организатор не впустил вас.',
    expired: 'Время ожидания истекло. Попробуйте ещё раз.', removed: 'Вас удалили из комнаты.',
    feature_missing: 'Эта часть Calixio на этом сервере пока недоступна.',
    no_calls: 'Звонков пока не было.', joined_at: 'Вход', duration: 'Длительность', role: 'Роль',
    profile: 'Профиль', save: 'Сохранить', saved: 'Сохранено', language: 'Язык', theme: 'Тема',
    theme_system: 'Как в системе', theme_light: 'Светлая', theme_dark: 'Тёмная',
    mic_on_join: 'Микрофон включён при входе', cam_on_join: 'Камера включена при входе',
    current: 'это устройство', last_used: 'Последнее использование', client: 'Клиент', revoke_session: 'Завершить сеанс',
    not_found_page: 'Такой страницы нет.', back_home: 'К моим комнатам', retry: 'Повторить',
    signed_in_as: 'Вы вошли как {name}', restore_session: 'Восстанавливаем сеанс…',
    guest_name_hint: 'Так вас увидят другие участники.', scheduled_for: 'Начало: {at}',
    edit_room: 'Настройки комнаты', description: 'Описание', locked: 'Закрыта: новые участники не входят',
    change_password: 'Сменить пароль', current_password: 'Текущий пароль', new_password: 'Новый пароль',
    password_changed: 'Пароль изменён. На всех других устройствах выполнен выход.',
    session_revoked: 'На том устройстве выполнен выход.',
    mic_muted: 'без звука', cam_off: 'без видео', invite_shown_once: 'ссылка показывается только при создании',
    invite_for: 'Приглашение ({role})', role_participant: 'участник', role_moderator: 'модератор',
  },
};

// Words for the API's error codes (shared/API.md, API-ROOMS.md).
const ERRORS = {
  en: {
    network: 'Cannot reach the Calixio server. Check your connection and try again.',
    client_timeout: 'The server took too long to answer. Try again.',
    invalid_json: 'The request was not understood. Reload the page and try again.',
    validation_failed: 'Some fields are not filled in correctly.',
    invalid_credentials: 'Wrong email or password.', wrong_current_password: 'The current password is not right.', email_exists: 'An account with this email already exists.',
    too_many_attempts: 'Too many attempts. Wait a few minutes and try again.',
    rate_limited: 'Too many requests. Wait a moment and try again.',
    missing_auth: 'Please sign in first.', invalid_token: 'Your session has ended. Please sign in again.',
    token_revoked: 'Your session was signed out. Please sign in again.', invalid_refresh: 'Your session has ended. Please sign in again.',
    room_not_found: 'This room does not exist (or was deleted).', room_ended: 'This room has ended.',
    room_forbidden: 'Only the host can do that.', room_full: 'The room is full.',
    room_not_started: 'The meeting has not started yet.', room_locked: 'The room is locked by the host.',
    room_invite_required: 'This room is for invited people only.', room_password_required: 'This room needs a password.',
    room_password_invalid: 'Wrong room password.', banned: 'You are not allowed to join this room.',
    invite_invalid: 'This invite link is not valid.', invite_expired: 'This invite link has expired.',
    participant_not_found: 'That person is no longer in the room.', session_not_found: 'That session no longer exists.',
    waiting_not_found: 'That request to join is no longer waiting.', too_many_messages: 'You are sending messages too fast.',
    not_found: 'This part of Calixio is not available on this server yet.',
    method_not_allowed: 'This part of Calixio is not available on this server yet.',
    unavailable: 'The service is temporarily unavailable. Try again in a moment.',
    timeout: 'The service did not answer in time. Try again.', internal: 'Something went wrong on the server.',
    payload_too_large: 'That is too long.', unknown: 'Something went wrong ({status}).',
    name_required: 'Enter a name.', name_max: 'The name is too long.', name_min: 'The name is too short.',
    email_required: 'Enter your email.', email_email: 'Enter a valid email address.',
    password_required: 'Enter a password.', password_min: 'The password needs at least 8 characters.',
    password_max: 'The password is too long.',
    new_password_min: 'The new password needs at least 8 characters.', new_password_max: 'The new password is too long.',
  },
  ru: {
    network: 'Нет связи с сервером Calixio. Проверьте подключение и попробуйте ещё раз.',
    client_timeout: 'Сервер слишком долго не отвечает. Попробуйте ещё раз.',
    invalid_json: 'Запрос не понят. Обновите страницу и попробуйте снова.',
    validation_failed: 'Некоторые поля заполнены неверно.',
    invalid_credentials: 'Неверная почта или пароль.', wrong_current_password: 'Текущий пароль указан неверно.', email_exists: 'Аккаунт с такой почтой уже есть.',
    too_many_attempts: 'Слишком много попыток. Подождите несколько минут.',
    rate_limited: 'Слишком много запросов. Подождите немного.',
    missing_auth: 'Сначала войдите.', invalid_token: 'Сеанс завершён. Войдите снова.',
    token_revoked: 'Сеанс был завершён. Войдите снова.', invalid_refresh: 'Сеанс завершён. Войдите снова.',
    room_not_found: 'Такой комнаты нет (или она удалена).', room_ended: 'Встреча завершена.',
    room_forbidden: 'Это может сделать только организатор.', room_full: 'В комнате нет мест.',
    room_not_started: 'Встреча ещё не началась.', room_locked: 'Организатор закрыл комнату.',
    room_invite_required: 'В эту комнату входят только по приглашению.', room_password_required: 'Для входа нужен пароль.',
    room_password_invalid: 'Неверный пароль комнаты.', banned: 'Вам запрещено входить в эту комнату.',
    invite_invalid: 'Ссылка-приглашение недействительна.', invite_expired: 'Срок действия приглашения истёк.',
    participant_not_found: 'Этого участника уже нет в комнате.', session_not_found: 'Этого сеанса уже нет.',
    waiting_not_found: 'Этот запрос на вход уже не ждёт.', too_many_messages: 'Вы отправляете сообщения слишком часто.',
    not_found: 'Эта часть Calixio на этом сервере пока недоступна.',
    method_not_allowed: 'Эта часть Calixio на этом сервере пока недоступна.',
    unavailable: 'Сервис временно недоступен. Попробуйте чуть позже.',
    timeout: 'Сервис не ответил вовремя. Попробуйте ещё раз.', internal: 'На сервере что-то пошло не так.',
    payload_too_large: 'Слишком длинно.', unknown: 'Что-то пошло не так ({status}).',
    name_required: 'Введите имя.', name_max: 'Имя слишком длинное.', name_min: 'Имя слишком короткое.',
    email_required: 'Введите почту.', email_email: 'Введите правильный адрес почты.',
    password_required: 'Введите пароль.', password_min: 'Пароль должен быть не короче 8 символов.',
    password_max: 'Пароль слишком длинный.',
    new_password_min: 'Новый пароль должен быть не короче 8 символов.', new_password_max: 'Новый пароль слишком длинный.',
  },
};

export const LANGS = ['en', 'ru'];
let lang = pick(localStorage.getItem('cx.lang') || navigator.language || 'en');

function pick(l) {
  const base = String(l).slice(0, 2).toLowerCase();
  return LANGS.includes(base) ? base : 'en';
}

export function getLang() { return lang; }
export function setLang(l) {
  lang = pick(l);
  localStorage.setItem('cx.lang', lang);
  document.documentElement.lang = lang;
}

function fill(s, vars) {
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars && k in vars ? String(vars[k]) : `{${k}}`));
}

export function t(key, vars) {
  return fill(TABLE[lang][key] ?? TABLE.en[key] ?? key, vars);
}

// Words for an ApiError (api.js): the field rules first, then the code.
export function errorText(err) {
  const e = ERRORS[lang];
  if (err?.fields) {
    const parts = Object.entries(err.fields).map(([f, rule]) => e[`${f}_${rule}`]).filter(Boolean);
    if (parts.length) return parts.join(' ');
  }
  if (err?.reason && e[err.reason]) return e[err.reason];
  return fill(e[err?.code] ?? e.unknown, { status: err?.status ?? '?' });
}
